// Package spline holds the interpolants through a run's checkpoints that NM-MMFM needs
// (METHODS.md §3): the cubic spline with not-a-knot end conditions, as
// scipy.interpolate.CubicSpline builds it by default, and the piecewise-linear interpolant.
//
// Knots (checkpoint times) must be finite and strictly increasing, with any spacing: uniform
// t_k = k/K or proportional to training steps. The cubic follows scipy's special cases exactly:
// two knots give the straight line, three the single parabola through them. Outside the knots both
// interpolants extend their end pieces, as scipy's default extrapolate=True does; MMFM only asks
// for t in [t_0, t_K], so this matters for plots and tests.
//
// Both interpolants are linear in the data, so for fixed knots the value and derivative at t are
// weighted sums of the anchors, x(t) = Σ_k w_k(t)·y_k and x'(t) = Σ_k w'_k(t)·y_k, with weights
// that depend only on the knots. MMFM evaluates one spline per coordinate of P ≈ 10⁴–10⁵ weights
// for many runs sharing the same knots, so the work is split accordingly:
//
//   - [NewBasis] checks the knots and, for [Cubic], solves the not-a-knot system once, for all
//     data (an n×n map from values to knot derivatives).
//   - [Basis.Weights] gives w_k(t) and w'_k(t) in O(n).
//   - [Basis.Fill] writes x(t) and x'(t) of one run from its float32 anchors (float64 weights and
//     sums), a cheap pass over the anchors: 0.17–0.22 ms for P = 12,730 and 11 anchors (BenchmarkFill).
//   - [New], [NewLinear] and [Basis.Spline] build one float64 series with Eval and Deriv, for
//     tests and plots.
//
// Which piece evaluates t: piece i covers [t_i, t_{i+1}), the first piece also everything below
// and the last piece everything from t_{K−1} on. This matters only for the derivative of the
// linear interpolant at a knot: an interior knot takes the slope on its right, the last knot that
// of the last piece.
package spline
