// Package vae is the weight VAE of METHODS.md §5: an encoder and a decoder (MLPs) between the
// flat weight vectors of a zoo's base nets and a latent space of d_z ≪ P dimensions, so that a
// meta-model can be fitted on latents and its samples decoded back into working nets.
//
//   - Fit trains on every checkpoint of a traj.Zoo (all runs, init to final) in normalized space
//     (flow.FitNormalizer, Config.Norm), with the loss ‖x − D(μ + σ·ε)‖² + β·KL(N(μ,σ²) ‖ N(0,I))
//     and a small β (Config.Beta, default 1e-4; D2NWG uses 1e-6): reconstructions stay sharp and
//     the latent flow, not the prior, models where the latents lie. AdamW (GoMLX's Adam with
//     decoupled decay), linear warm-up then cosine learning rate, one compiled training step; each
//     minibatch and its noise ε depend only on (Config.Seed, step), so a seed fixes the weights.
//   - Model.Encode (posterior means) and Model.Decode work on host [n,P] and [n,d_z] slices of
//     raw weights; the graphs run execBatch rows at a time, so each compiles once.
//   - Model.Evaluate reports the reconstruction *accuracy*: the zoo's nets at a checkpoint and
//     their reconstructions D(E(θ)) tested side by side (eval.ZooAccuracy), with the error in
//     normalized space. Save writes weights.safetensors and vae.json (atomically; with the seed in
//     the config and the nmflow version), Load reads them back and checks them.
//   - Latent flow: Model.LatentZoo encodes a zoo into a traj.Zoo of d_z-vectors (same runs,
//     checkpoints, steps and metrics), FitLatent fits a flow meta-model there from N(0,I)
//     (flow.SourceGaussian, per-coordinate normalization) and saves the VAE in the flow's folder
//     (vae/), LoadLatent reads both, and LatentFlow.Sample/Generated return decoded base-net
//     weights in the usual containers. The CLI: 'nmflow fit --latent vae' and 'nmflow sample'.
//   - Conditional latent flow (METHODS.md §6, "NM-CFM w/ VAE for conditional generation"): one
//     VAE trained on the checkpoints of all task zoos together (Fit on flow.MergeTasks), each
//     task's zoo encoded, and flow.FitConditional fitted on the latent zoos by FitLatentCond;
//     LatentFlow.Sample with flow.SampleOptions.Cond guides in latent space and decodes.
//     EvaluateOn tests the reconstructions on a task's dataset. CLI: 'nmflow fit --condition
//     support --latent vae', 'nmflow sample --task T --guidance W'.
//
// A typical session:
//
//	v, err := vae.Fit(ctx, zoo, vae.Config{LatentDim: 32, Seed: 1}, vae.Options{})
//	rec, err := v.Evaluate(nil, zoo, -1, 0) // decoded vs original test accuracy
//	lf, err := vae.FitLatent(ctx, v, zoo, flow.Config{Steps: 2000}, flow.Options{Dir: "models/latent"})
//	s, err := lf.Sample(64, flow.SampleOptions{Solve: solve.Options{Method: "rk4", Steps: 50}})
package vae
