// Package traj reads and writes nmflow trajectory files: safetensors files holding either a zoo
// of training trajectories (weights [R, K+1, P], steps [K+1], one [R, K+1] tensor per metric) or
// generated weights ([N, P]), with the architecture, Layout, dataset, optimizer and seeds as JSON
// in __metadata__. The format is specified in docs/trajectory-format.md; plain safetensors keeps
// the files readable from Python (numpy, safetensors) without nmflow.
//
// Writes are atomic (temp file, fsync, rename) so an interrupted run never leaves a truncated
// artifact, and readers validate everything, failing with the file and the problem in the error,
// because these files feed long experiments where silent corruption is costly.
package traj
