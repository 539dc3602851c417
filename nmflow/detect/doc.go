// Package detect decides whether a small unlabeled set Q comes from a distribution shift that
// harms a deployed classifier f, with Detectron (Ginsberg, Liang & Krishnan, ICLR 2023; METHODS.md
// §8). Meta-detectron, which generates the CDCs with the meta-model instead of training them,
// comes with nmflow/adjoint.
//
// # Detectron
//
// A constrained disagreement classifier (CDC) g starts from f and is trained to agree with f on
// P (its training distribution) while disagreeing with f on Q:
//
//	ℓ_cdc = mean over a P batch of CE(g(x), f(x)) + λ · mean over Q of DCE(g(x), f(x)),
//	DCE(logits, ŷ) = −(1/(C−1))·Σ_{c≠ŷ} logits_c + logsumexp(logits),  λ = 1/(|Q|+1)
//
// ([CDCLoss], [DCE]). Every step holds BatchSize P examples plus all of Q, as in the reference
// code. After each CDC, Q is refined: points where g disagrees with f leave Q, and the next CDC
// (again from f) trains on what is left; up to Config.Ensemble CDCs, stopping early when Q is
// empty or after Config.Patience CDCs that remove nothing. If f's predictions on Q are as
// constrained as on P, few points can be flipped without hurting P; on a harmful shift many can.
//
// Two statistics per trial, higher meaning "more shifted":
//   - disagreement: the number of Q points rejected by the ensemble (|Q| − count);
//   - entropy: the ensemble's (f and its CDCs) mean softmax on the full Q, whose per-point
//     entropies are compared by a two-sample KS test ([KS]) with those of the null trials (the
//     other null trials, for a null trial); the score is −log p.
//
// # Trials and power
//
// [Run] repeats the test for each |Q| with Q drawn from P's held-out split (null) and from the
// shifted set (alternative), `trials` times each, and reports for both statistics the TPR at
// FPR ≤ α ([TPRAtFPR], with its s.e.m.) and the AUROC — exact, as the Mann–Whitney statistic
// ([AUROC]) — with its Hanley–McNeil standard error ([AUROCSE]). All trials of one |Q| are trained
// Config.Models at a time: one compiled GoMLX step updates the parameters [M,P] of M CDCs (each
// with its own Q, mask, λ, minibatch order and Adam state) through arch.Net.Forward, so the step
// compiles once per |Q| and a padded last group never recompiles.
//
// Benchmarks: [ShiftBench] (an image dataset and a synthetic shift from nmflow/data/shift),
// [HeartBench] (UCI Heart, real shift across hospitals) and [NaturalBench] (e.g. CIFAR-10 vs
// CIFAR-10.1). f comes from a zoo ([BaseFromZoo]) or is trained with one ([TrainBase]).
package detect
