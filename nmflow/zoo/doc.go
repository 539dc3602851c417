// Package zoo trains R base networks at once and records their gradient-descent trajectories.
//
// All R runs share one compiled training step over params [R,P]: each run has its own init
// (seeded by arch.RunSeeds), its own minibatch order (a permutation per run and epoch) and its own
// optimizer state (SGD with momentum, or Adam, both with PyTorch semantics). K+1 checkpoints
// (the init included), evenly spaced in steps, are kept with train loss, test loss and test
// accuracy per run. A resume state is written atomically at every checkpoint; an interrupted zoo
// continues from it and gives bit-for-bit the result of an uninterrupted run on the same backend.
// Every step's training losses are checked: a NaN or Inf loss or weight stops the zoo with a
// *DivergedError naming the run and step, keeping the last good checkpoint (in the state file and
// in the partial zoo returned); with Options.LRCut it instead goes back to that checkpoint, cuts
// the learning rate and continues, recording the cuts in the metadata.
// TrainFrom trains the same way from given initial weights (generated nets, another task's nets)
// with checkpoints at given steps: the fine-tuning behind package downstream.
// The result is a traj.Zoo, saved with traj.WriteZoo.
package zoo
