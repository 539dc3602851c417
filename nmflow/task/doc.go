// Package task names classification tasks derived from the image datasets, trains one zoo per
// task, and supplies the support sets that condition a meta-model on a task (METHODS.md §6,
// flow.FitConditional).
//
// A task name is a dataset name followed by transforms, each "+op:arg":
//
//	mnist                     the dataset itself
//	fashion-mnist+perm:3      labels permuted by the seeded permutation 3 (never the identity)
//	mnist+rotate:45           every image (train and test) rotated by 45 degrees (package data/shift)
//	mnist+rotate:30+perm:1    both, in that order
//
// A multi-task zoo (Set) is a folder with one ordinary trajectory file per task, named after the
// task (FileName), whose metadata records the task (Extra "task"). Train trains the missing ones
// with the same zoo.Config (same seed: run r of every task starts from the same init), reusing
// those already there. Pool collects the images a task's support sets are drawn from, Accuracy
// tests nets on a task's test split.
package task
