// Package adjoint fine-tunes a flow meta-model (package flow) by adjoint matching (Domingo-Enrich
// et al., ICLR 2025; METHODS.md §7), so that its samples maximize a reward while staying close to
// the base distribution:
//
//	p*(θ) ∝ p_base(θ)·exp(λ·r(θ)),
//
// e.g. r(θ) = −cross-entropy of the base net with weights θ on Fashion-MNIST, which steers an
// MNIST meta-model towards Fashion-MNIST classifiers.
//
// One iteration, all in normalized space:
//
//  1. simulate Batch trajectories of the memoryless SDE of the fine-tuned model, drift
//     2v − (x − m)/t and noise σ(t) = c·√(2(1−t)/t) (m, c: the source's mean and std; 0 and 1 for
//     the Gaussian source), with an exponential integrator that is exact in the singular linear
//     part, so the effective start is t₁ > 0, on a grid shifted by a random phase each
//     iteration so that the loss sees every time (see sde.go);
//  2. the reward and its gradient at X_1 by autodiff through the decoder (the inverse normalizer by
//     default, a VAE decoder for latent meta-models: Options.Decoder) and the base net's forward
//     pass: ã(1) = −λ·∇r(X_1);
//  3. the lean adjoint backwards with the *base* field, one vector–Jacobian product per step;
//  4. the adjoint-matching loss ‖2(v_ft − v_base)/σ + σ·ã‖² at Times random grid times per
//     trajectory (by default measured in units of the network's output, see Config.Weight: the
//     paper's weighting grows like 1/(1 − t)³ for target-prediction models), per-sample
//     clipping at an EMA of a quantile, one Adam step with global-norm gradient clipping. v_ft
//     starts as an exact copy of v_base, so with λ = 0 the loss is 0.
//
// Each of the four graphs (SDE step, reward gradient, adjoint step, loss + update) is compiled
// once. Runs are reproducible from (Config, base model): iteration i draws everything from
// (Seed, i). With Options.Dir, a run writes GoMLX checkpoints and its record (finetune.json) and
// resumes bit-exactly; at the end Dir also holds the fine-tuned model as flow.Load reads it, so
// `nmflow sample --model Dir` samples it like any meta-model.
//
// Exactness. The memoryless schedule presumes a standard Gaussian source drawn independently of
// the data (see Exact): then the SDE has the ODE's marginals and forgets its start, and the
// optimum of the loss is exactly the tilted law — a base N(0, I) with r(x) = aᵀx becomes
// N(λa, I), which the tests check with the exact Gaussian field and with a fitted CFM. For the Kaiming source the
// schedule uses that law's per-parameter moments (a moment-matched Gaussian), which makes it an
// approximation; fit the meta-model with flow.SourceGaussian when the target law matters.
//
// Rewards implement Reward: CrossEntropy (the default, minibatch −CE with accuracy logged), Func
// for any differentiable graph function of θ, Linear for aᵀθ.
package adjoint
