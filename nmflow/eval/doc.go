// Package eval measures generated weights (METHODS.md §9): how well the nets they define classify,
// how far a generated set lies from a reference set, whether generated nets merely copy
// training checkpoints, and how the base nets' loss evolves along a sampling path.
//
//   - [Evaluator] runs the mean cross-entropy and accuracy of R models (a [R,P] parameter matrix)
//     over a whole split with one compiled graph; the zoo uses it during training.
//     [Accuracy] applies it to N generated nets stored as one flat [N,P] slice, batchModels at a
//     time, padding the last group so the graph is compiled once.
//   - [W1] is the exact 1-Wasserstein distance between two equal-size sets of flat weight vectors
//     under the Euclidean cost: the minimum over permutations π of (1/n)·Σ‖a_i − b_π(i)‖, solved
//     by an O(n³) shortest-augmenting-path assignment (align.Assignment) on the [Distances] matrix.
//     The paper reports W1 × 100; whether vectors are raw or normalized weights is the caller's
//     choice and should be stated with the number.
//   - [Novelty] compares each generated net's distance to its nearest training checkpoint with the
//     nearest-neighbour distances among the training checkpoints themselves (Zeng et al. 2025);
//     [NoiseBaseline] and [MatchedSigma] build the "trained weights plus noise of the same size"
//     baseline to read those numbers against.
//   - [PathLoss] evaluates every snapshot of a sampling ODE path (flow.Samples.Path, each an
//     [N,P] matrix of raw weights) with one compiled [Evaluator] and returns a [PathCurve]: per
//     time, the [Summary] of the N nets' test loss and accuracy, and each net's values (the
//     paper's Figure 2; plot.PathLossCurve draws it).
//   - [Summarize] reduces per-net numbers to the mean/median/min/max/std the paper's tables show
//     ([Percentile] for other quantiles); [Means] and [Stds] pull one statistic out of a slice of
//     summaries, e.g. PathCurve.Loss, for plotting.
//
// Distances are computed in float64 from float32 weights as ‖a‖² + ‖b‖² − 2a·b with a blocked
// gonum Dgemm (parallel over cores); pairs close enough for that form to lose precision are
// recomputed as direct differences, so near-duplicates — the interesting case for memorization —
// keep full float64 accuracy (identical vectors give exactly 0).
package eval
