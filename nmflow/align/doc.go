// Package align puts the hidden units of independently trained nets into one order (METHODS.md
// §10), so that a zoo stops being a mixture of permuted copies of the same solutions.
//
// Hidden units of an MLP (channels of a CNN, with their mean pooling and flattening) can be
// permuted without changing the function the net computes. Independent runs land in arbitrary
// orders: averaging them, or fitting a generative model on them, mixes unrelated units.
// Weight matching (Ainsworth et al., "Git Re-Basin", ICLR 2023) picks, for each permutable layer,
// the permutation of a net's units that maximizes the inner product of its incoming weights,
// bias and outgoing weights with a reference net's — a linear assignment per layer, solved
// exactly by [Assignment] — and sweeps the layers in random order until no permutation changes.
//
//   - [Match] and [Apply]: the permutations of one net towards a reference, and applying them.
//   - [Nets]: align a set of nets to one reference net (how eval compares any generator with a
//     zoo in the zoo's aligned space).
//   - [Zoo]: one permutation per run, chosen on one checkpoint (the last by default) towards a
//     reference run and then towards the mean of the aligned runs, applied to every checkpoint of
//     the run so each trajectory stays one path. The result's Meta.Aligned records it.
//
// Aligned nets compute the same logits as before (up to float rounding of the summation order;
// the tests check it), so accuracies and losses do not change; distances between nets, the mean
// net, and everything a meta-model learns do.
package align
