// Package bench runs nmflow's four hot paths with fixed seeds and sizes, the workloads behind
// `nmflow bench` and the PyTorch reference in bench/pytorch (docs/bench.md lists them exactly):
//
//   - zoo: model-steps/s of the zoo's compiled SGD step (MLP 784-32-10, batch 128) at R = 1, 8, 64, 256
//   - fit: meta-model (CFM) training steps/s at P ≈ 10³, 10⁴, 10⁵ (width 256, depth 1, batch 64)
//   - sample: generated nets/s per solver (N = 64 states of D = 25,450, 100 steps, 2-layer MLP velocity)
//   - eval: nets/s of batched test accuracy (64 nets of MLP 784-32-10 on 10,000 examples)
//
// Each case compiles once, times its first call (compile + first run) as warm-up separately,
// and reports its compile count and a check value (a loss, a displacement) that
// bench/pytorch/bench.py computes from the same laws of data and weights; Quick sizes make a run
// of seconds for tests. RunReport adds the machine, the threads, the backend's GEMM peak (Peak,
// for the roofline column of eval and sample), the CPU other processes used during the run and
// the fit's recipe, which the PyTorch side follows.
//
// Summarize compares interleaved rounds of nmflow's and PyTorch's reports (`make bench`): median
// and min–max per case, the ratio of the medians, achieved GFLOP/s against each side's peak, and
// the problems that make a comparison unfair or unchecked (check values that disagree, PyTorch
// on the reference BLAS or on fewer threads, recompiles, a busy machine); Summary.Write prints
// the report docs/bench.md shows.
//
// Scaling sweeps the zoo step over R and the fit step over P, recording seconds per step, peak
// resident memory, the live heap left behind per zoo step and the compile count; Slope and Slopes
// give the log-log growth exponents (`nmflow bench --scaling`, notebooks/08-performance.ipynb).
package bench
