// Package eval measures generated weights (METHODS.md §9): how well the nets they define classify,
// how far a generated set lies from a reference set, whether generated nets merely copy
// training checkpoints, and how the base nets' loss evolves along a sampling path.
//
//   - [Compare] (and [CompareZoo] for a zoo file's nets) is the evaluation to report: it returns
//     one [Row] per set of nets — the generated ones next to reference rows computed the same way:
//     the zoo's trained nets, an independent zoo (what a perfect generator scores), trained nets
//     plus noise at several levels (Zeng et al. 2025's baseline), a collapse to the mean net, and
//     the inits — each with accuracy and loss, [Energy] and [W1] to the trained nets in aligned
//     space (package align), the distance to the nearest trained net, and functional distances to
//     that net ([Agreement] of predictions, [ErrorOverlap] of mistakes). Raw-space W1 between
//     small sets in many dimensions mostly measures each set's spread: an independent zoo scores
//     worse than the inits or the mean; energy ranks them right.
//   - [Comparison.NoveltyCurve] is the noise baseline as a curve of accuracy against distance to
//     the nearest trained net; [BeatsNoise] decides whether a set beats it beyond one standard
//     error, the only case in which a generator may be said to produce more than copies
//     (plot.NoveltyAccuracy draws it).
//   - [Evaluator] runs the mean cross-entropy and accuracy of R models (a [R,P] parameter matrix)
//     over a whole split with one compiled graph; the zoo uses it during training.
//     [Accuracy] applies it to N generated nets stored as one flat [N,P] slice, batchModels at a
//     time, padding the last group so the graph is compiled once; [Predict] also returns each
//     net's predicted classes.
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
