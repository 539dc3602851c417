// Package feed keeps dataset splits on the compute device in the layout the hot loops want and
// gathers minibatches from them inside graphs.
//
// Pixels stay uint8, packed 8 per uint64 word: gathering words is 8x fewer iterations than gathering
// bytes on the Go backend, and a quarter of the memory of float32 (see
// shared/research/gomlx-performance.md). Conversion to float32 and standardization happen in-graph.
package feed
