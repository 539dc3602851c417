package data

import "math/rand/v2"

// Noise is n examples of d uniform random bytes with uniform labels in [0, classes), drawn from
// seed: data of a real shape for benchmarks, whose timings do not depend on the values.
func Noise(n, d, classes int, seed uint64) Split {
	rng := rand.New(rand.NewPCG(seed, 7))
	s := Split{Images: make([]uint8, n*d), Labels: make([]int, n), N: n}
	for i := range s.Images {
		s.Images[i] = uint8(rng.IntN(256))
	}
	for i := range s.Labels {
		s.Labels[i] = rng.IntN(classes)
	}
	return s
}

// NoiseMNIST is an MNIST-shaped dataset of Noise: train and test random 1×28×28 images, 10 classes.
func NoiseMNIST(train, test int, seed uint64) *Dataset {
	return &Dataset{Name: "mnist-shaped", Shape: []int{1, 28, 28}, Classes: make([]string, 10),
		Train: Noise(train, 784, 10, seed), Test: Noise(test, 784, 10, seed+1), Source: "random (data.Noise)"}
}
