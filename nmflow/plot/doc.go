// Package plot draws the figures of a trajectory zoo (traj.Zoo), of the meta-models fitted on it
// (package flow) and of the weights they generate, with gonum/plot. Zoo figures:
//
//   - TrainingCurves / TrainingCurvesGrid: a metric against training step, the mean over runs
//     with a ±1 std band and a lighter min–max band;
//   - PCATrajectories: every run's path in the plane of the two leading principal components
//     of all checkpoints, coloured by training time t = k/K, inits as circles and finals as
//     triangles. It returns the fitted PCA so that AddPoints and AddPath can overlay other
//     weights (generated samples, ODE paths) in the same plane; FitPCA works on any rows;
//   - WeightHistograms: per-layer distributions of the weights at chosen checkpoints.
//
// Meta-model figures:
//
//   - LossHistory: a meta-model's training loss per optimizer step (flow.Model.History) with a
//     trailing moving average, on a log axis when every loss is positive;
//   - AccuracyHistograms: overlaid histograms of several Named sets of values on shared bins
//     (e.g. test accuracy of inits, trained and generated nets), as fractions of each set, with
//     a dashed line at each mean;
//   - PCAWithGenerated: the signature figure, the zoo's trajectories in their PCA plane with the
//     ODE paths of generated nets (flow.Samples.Path snapshots) drawn over them, ends as diamonds;
//   - PathLossCurve: the base nets' test loss along the sampling ODE (eval.PathLoss, reduced with
//     eval.Means and eval.Stds) against t, mean ± 1 std, with a dashed reference line for the
//     zoo's trained nets;
//   - NoveltyAccuracy: one generator's nets as accuracy against distance to the nearest trained
//     net, over the noise-addition curve of an eval.Comparison, with the independent zoo as a
//     marker and eval.BeatsNoise's verdict in the title.
//
// Figures of 2-D toy problems (the tutorials): VectorField (a quiver plot of a field evaluated
// with GridArrows), Landscape (a scalar function such as a toy loss or reward as a pale heat map
// with contour lines), and Plane with AddPoints2D and AddPaths2D to draw points and ODE paths.
//
// Every figure is a *plot.Plot from gonum.org/v1/plot, so callers can restyle or extend it.
// Render and RenderGrid turn one figure or a grid of them into PNG or SVG bytes, Save and
// SaveGrid write files atomically. Output is deterministic: the same zoo gives the same bytes,
// which keeps executed notebooks and golden files stable.
//
// The package keeps no global state and never changes gonum/plot's defaults: each figure
// carries its own style (Liberation Sans, light grid, legend in the emptiest corner on a
// translucent box).
package plot
