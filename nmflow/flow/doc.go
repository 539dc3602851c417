// Package flow fits meta-models over the flat weight vectors of a trajectory zoo (traj.Zoo) and
// samples new base-model weights from them. Three methods (Config.Method):
//
//   - MethodCFM, NM-CFM (METHODS.md §2): flow matching on the straight path init → final.
//   - MethodMMFM, NM-MMFM (§3): flow matching on a path through the run's intermediate checkpoints
//     (Config.Intermediates of them): a not-a-knot cubic spline or a piecewise-linear interpolant
//     (package spline) with constant or adaptive noise (MMFMConfig); the network regresses the
//     path's derivative or the endpoint of its tangent. Without intermediates it is CFM.
//   - MethodJKO, NM-JKO (§4): a scalar potential V fitted on consecutive checkpoint pairs by
//     ‖τ∇V(x_k) + x_{k+1} − x_k‖², so that sampling's explicit steps x ← x − τ∇V(x), one per
//     checkpoint interval, evaluate V where it was trained (JKOConfig).
//
// From a fresh source draw x0 (the default independent coupling) MMFM and JKO re-root each run at
// x0: anchor j becomes a_j + (1 − t_j)·(x0 − θ0), see mmfm.go. Before fitting, the zoo's hidden
// units are permuted into one order (Config.Align, package align): otherwise the zoo is a mixture
// of permuted copies and the meta-model averages unrelated units.
//
// Model.CompareMarginals stops generated nets at the checkpoint times and measures their W1
// distance to the real checkpoints (the paper's Figure 3); SampleOptions.At keeps the states at
// any times for the base model's loss along inference (Figure 2).
//
// A meta-model learns a velocity field v_φ(x, t) on normalized weights. Training draws a source
// sample x0 and a final checkpoint x1 (Config.Target, default the last), a time t ~ U(0,1), the
// point x_t = (1−t)·x0 + t·x1 (+ σ·ε with Config.Sigma), and regresses the network on the
// conditional target u = x1 − x0 (Config.Predict = PredictVelocity), or on x1 through an
// endpoint prediction whose velocity is (D − x_t)/(1 − t) (PredictTarget, the default: the network
// then only denoises towards trained weights, and need not carry the source draw through). Sampling integrates
// dx/dt = v_φ(x, t) from t = 0 to 1 with package solve (Euler, midpoint, RK4, Dopri5), or,
// SDEdit-style, from an intermediate time t0 (SampleOptions.StartTime) with a given net f noised
// along the straight path, x_t0 = t0·f + (1 − t0)·x0 (SampleOptions.Near): nets near f, the
// closer the later t0.
//
// The pieces:
//
//   - Normalizer (FitNormalizer): the meta-model sees z = (θ − μ)/s, with μ and s fitted on the
//     zoo's inits and targets per Layout segment (NormLayer, the default), per parameter (NormParam,
//     s floored at 1e-3 of its segment's std) or not at all (NormNone). It is stored with the model
//     and inverted before weights leave the package, so callers only ever see raw weights.
//   - Source: where t = 0 lives. SourceKaiming draws from the zoo's own init law (traj.Meta.Init,
//     e.g. PyTorch's default) pushed into normalized space, so the flow starts where gradient
//     descent starts; SourceGaussian is N(0, I) in normalized space.
//   - Couplings of x0 and x1 in a minibatch: CouplingIndependent draws fresh sources (the default:
//     it generalizes to new inits), CouplingTrajectory pairs each run's own init with its own path
//     (Kaiming source only: R runs are too few to learn how a new init moves, so it retraces the
//     zoo's runs from their own inits, SampleOptions.From), CouplingOT re-pairs independent draws by the
//     exact optimal assignment under squared Euclidean cost inside each batch (Tong et al.).
//   - Velocity: a residual MLP with LayerNorm, SiLU and a sinusoidal time embedding (NetConfig);
//     its output layer starts at zero. The two layers as wide as the base nets (input and output)
//     take their weight gradients from hand-formed matmuls in the backend's native layouts, which
//     saves the Go backend several copies of P-sized tensors per step (see wide).
//   - Fit: a hand-written AdamW step (PyTorch semantics) with global gradient-norm clipping, a
//     linear warm-up then cosine learning-rate schedule and an EMA of the weights, all in one
//     compiled model.Exec. Each minibatch is a function of (Config.Seed, step) only, so a fit is
//     reproducible from its configuration. With Options.Dir, GoMLX checkpoints are written every
//     Options.CheckpointEvery steps and an interrupted fit (Options.StopAfter, a cancelled context,
//     a crash) resumes from the same directory; the configuration must match.
//   - Model: configuration, BaseInfo (architecture, layout, init law, dataset of the base nets),
//     normalizer, loss and gradient-norm history, and the EMA weights used for sampling. Load reads
//     a directory written by Fit (model.json + ckpt/). Model.Sample returns Samples in raw weight
//     space — final weights, the source draws, optionally the path snapshots (solve.Options
//     KeepPath) for figures such as plot.PCAWithGenerated and eval.PathLoss — and
//     Model.Generated wraps them in a traj.Generated container with provenance metadata.
//
// Where each concept lives (Meta's flow_matching separates paths, losses and solvers the same way):
//
//   - config.go: Config, its defaults and validation; the method and alignment names.
//   - source.go: the source laws at t = 0 (Source). coupling.go: the couplings and the OT pairing.
//   - path.go: the probability paths, CFM's straight line and MMFM's interpolant with its noise,
//     and the training times' skew. mmfm.go: MMFM's anchors (which checkpoints, their times,
//     re-rooting at a fresh source draw).
//   - loss.go: the training step's losses (velocity, endpoint prediction, JKO's explicit step).
//     jko.go: JKO's potential V and its gradient.
//   - net.go: the velocity network. cond.go: conditioning on support sets (training); guide.go:
//     support embeddings and classifier-free guidance (sampling).
//   - train.go: Fit and the fit loop. batch.go: a step's minibatch, prepared one step ahead.
//     adamw.go: the trainable variables, the learning-rate and EMA schedules; hostopt.go: the
//     optimizer (clipping, AdamW, EMA) on the host, for every variable, from the gradients the
//     compiled step returns. diverge.go: divergence and learning-rate cuts. checkpoint.go: saving, resuming, torn checkpoints, VelocityParams.
//   - norm.go: the Normalizer. model.go: Model, model.json (ReadModelJSON), Save and Load.
//     sample.go: sampling (the ODE solve, JKO's explicit steps, Generated). marginals.go: Model.CompareMarginals.
//     access.go: what packages built on a fitted model (adjoint, vae) may use.
//
// A typical session:
//
//	m, err := flow.Fit(ctx, zoo, flow.Config{}, flow.Options{Dir: "models/cfm"}) // the defaults
//	...
//	s, err := m.Sample(100, flow.SampleOptions{Solve: solve.Options{Method: "rk4", Steps: 50}, Seed: 1})
//	acc, loss, err := eval.Accuracy(be, net, s.Weights, s.N, test, nil, nil, 0)
package flow
