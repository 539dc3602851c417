// Package solve integrates ODEs dx/dt = v(x, t) for flow-matching sampling: fixed-step Euler,
// midpoint and RK4, and adaptive Dormand–Prince 5(4) ("dopri5"). As in Meta's flow_matching
// library, paths, losses and solvers are separate: solve knows nothing of how the field was
// trained, only how to evaluate it inside a GoMLX graph.
//
// The pieces:
//
//   - VelocityFn is the field as a graph function, v(x [N, D], t scalar) → [N, D].
//   - StepFn is one method's step as a graph (EulerStep, MidpointStep, RK4Step, Dopri5Step).
//   - A Compiler turns a StepFn into a Runner with the owner's field: GraphCompiler for a plain
//     function (closed forms, constant weights), ModelCompiler for a net whose weights live in a
//     model.Store (model.Exec), or any custom one built on ExecRunner.
//   - A Solver keeps one compiled Runner per method, step kind and input shape, so a sampler that
//     integrates again and again compiles once.
//
// Why a Go loop over one compiled step: on the pure-Go backend this was the fastest form measured
// (as fast as unrolling all steps in one graph, faster than an in-graph While), and it keeps
// adaptive step-size control in Go. t and dt travel as runtime scalars (never recompiling), and
// the state's buffer is donated to each step so memory stays flat. The caller's x0 is never
// donated. On XLA/GPU each step is one launch; for 100 steps of a large net that cost is small.
//
// Dopri5 follows torchdiffeq and scipy: error norm RMS(err / (atol + rtol·max(|x|, |x_new|))) over
// all N·D elements, accept when ≤ 1, next dt = dt·clamp(0.9·norm^(−1/5), 0.2, 10) (no growth right
// after a rejection), Hairer's initial step, first-same-as-last so each attempt costs 6
// evaluations. The accept/reject choice is made inside the step graph, so rejected attempts keep
// the state without copying it back.
//
// NaN/Inf: checking the state on the host every step would copy N·D floats per step, so the state
// is checked at the end and at each path snapshot (KeepPath), and Dopri5 fails at once when its
// error norm is not finite; errors say "velocity produced NaN/Inf" and name the time.
//
// A later SDE integrator (Euler–Maruyama) fits the same mould: its StepFn takes the noise or an RNG
// state as extra inputs and returns the new RNG state as an extra output.
package solve
