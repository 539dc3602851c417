// Package optim holds what the trainers of meta-models share about their optimizer: the
// learning-rate schedule's settings and their defaults (Schedule), and the error a trainer returns
// when its loss or gradient norm stops being finite, with the advice it gives (Divergence).
//
// flow (meta-model fits), vae (weight VAEs) and adjoint (reward fine-tuning) keep their own fields
// in their Config (lr, warmup, min_lr, weight_decay in model.json), so that existing literals and
// saved models stay valid, and fill them through Schedule.Fill with their own defaults.
// flow.DivergedError and adjoint.DivergedError embed Divergence and name the step or iteration.
package optim
