// Package arch defines base networks as pure functions of a flat parameter vector, batched over
// models: Forward(params [R,P], x) → logits [R,B,C]. The same function serves zoo training,
// evaluation of generated nets, reward gradients and detectors.
//
// A Layout names the segments of the flat vector in PyTorch conventions (Linear weight [out,in],
// Conv2d weight [out,in,kh,kw], then bias), so a flat vector is the concatenation of a PyTorch
// state_dict's tensors and converts both ways unchanged. Init laws (InitPyTorch, InitHeUniform)
// sample flat vectors deterministically from a seed.
//
// Two architectures: an MLP (ReLU) and a small CNN (3x3 conv, ReLU, 2x2 mean-pool per stage, then
// dense layers). The CNN pools by mean, not max: the pure-Go backend has no MaxPool gradient.
// Models are batched with one shared matmul when the input is shared and with batched matmuls or
// grouped convolutions when each model has its own minibatch.
package arch
