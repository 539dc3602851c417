package eval

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/feed"
)

// featureSplit has n examples of d pixels whose first three pixels are distinct (no argmax ties);
// the label is the index of the brightest of them for the first 3/4 of the examples and the next
// class for the rest, so a net computing that argmax is exactly ⌊3n/4⌋/n accurate.
func featureSplit(n, d int, seed uint64) data.Split {
	rng := rand.New(rand.NewPCG(seed, 3))
	s := data.Split{Images: make([]uint8, n*d), Labels: make([]int, n), N: n}
	for i := range n {
		px := s.Images[i*d : (i+1)*d]
		for k := range px {
			px[k] = uint8(rng.IntN(256))
		}
		perm := rng.Perm(3)
		best := 0
		for c := range 3 {
			px[c] = uint8(60 + 70*perm[c]) // 60, 130, 200 in random order
			if perm[c] == 2 {
				best = c
			}
		}
		s.Labels[i] = best
		if i >= n*3/4 {
			s.Labels[i] = (best + 1) % 3
		}
	}
	return s
}

// refEval is the net's definition in float64: logits = W2·relu(W1·x + b1) + b2, then argmax
// accuracy and mean cross-entropy.
func refEval(w map[string][]float32, s data.Split, d, hidden int, scale, shift []float64) (acc, loss float64) {
	for i := range s.N {
		x := make([]float64, d)
		for k := range x {
			x[k] = float64(s.Images[i*d+k]) * scale[k]
			if shift != nil {
				x[k] += shift[k]
			}
		}
		h := make([]float64, hidden)
		for j := range h {
			h[j] = float64(w["fc1.bias"][j])
			for k := range x {
				h[j] += float64(w["fc1.weight"][j*d+k]) * x[k]
			}
			h[j] = max(h[j], 0)
		}
		logits := make([]float64, 3)
		best := 0
		for c := range logits {
			logits[c] = float64(w["fc2.bias"][c])
			for j := range h {
				logits[c] += float64(w["fc2.weight"][c*hidden+j]) * h[j]
			}
			if logits[c] > logits[best] {
				best = c
			}
		}
		if best == s.Labels[i] {
			acc++
		}
		m := max(logits[0], logits[1], logits[2])
		var z float64
		for _, l := range logits {
			z += math.Exp(l - m)
		}
		loss += m + math.Log(z) - logits[s.Labels[i]]
	}
	return acc / float64(s.N), loss / float64(s.N)
}

// handNets builds nets of the 3-hidden-unit MLP whose predictions are known: the argmax of the
// first three pixels (at two logit scales), their argmin, a constant class, and one random init.
func handNets(t *testing.T, net arch.Net, d int) ([]map[string][]float32, []float32) {
	t.Helper()
	zeros := func(n int) []float32 { return make([]float32, n) }
	pick := func(sign, s float32) map[string][]float32 {
		w := map[string][]float32{"fc1.weight": zeros(3 * d), "fc1.bias": zeros(3), "fc2.weight": zeros(9), "fc2.bias": zeros(3)}
		for c := range 3 {
			w["fc1.weight"][c*d+c] = 1 // pixels are ≥ 0, so ReLU passes them unchanged
			w["fc2.weight"][c*3+c] = sign * s
		}
		return w
	}
	constant := func(c int) map[string][]float32 {
		w := map[string][]float32{"fc1.weight": zeros(3 * d), "fc1.bias": zeros(3), "fc2.weight": zeros(9), "fc2.bias": zeros(3)}
		w["fc2.bias"][c] = 2
		return w
	}
	init, err := arch.Init(net.Layout(), arch.InitPyTorch, 5)
	if err != nil {
		t.Fatal(err)
	}
	random, _ := net.Layout().Unflatten(init)
	nets := []map[string][]float32{pick(1, 4), pick(-1, 4), constant(0), constant(1), constant(2), pick(1, 20), random}
	var flat []float32
	for _, w := range nets {
		f, err := net.Layout().Flatten(w)
		if err != nil {
			t.Fatal(err)
		}
		flat = append(flat, f...)
	}
	return nets, flat
}

func TestAccuracyHandSetNets(t *testing.T) {
	be, _, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		input []int
		std   bool
	}{{"packed-8", []int{1, 2, 4}, false}, {"bytes-6", []int{6}, false}, {"standardized", []int{1, 2, 4}, true}} {
		t.Run(tc.name, func(t *testing.T) {
			net, err := arch.New(arch.MLP(tc.input, 3, 3))
			if err != nil {
				t.Fatal(err)
			}
			d := prodInts(tc.input)
			split := featureSplit(41, d, 7)
			var norm *feed.Norm
			scale, shift := make([]float64, d), []float64(nil)
			for k := range scale {
				scale[k] = 1.0 / 255
			}
			if tc.std {
				// Standardizing with a positive scale keeps the argmax; the loss changes.
				norm, err = feed.NewNorm([]float32{0.25}, []float32{0.5}, d, true)
				if err != nil {
					t.Fatal(err)
				}
				shift = make([]float64, d)
				for k := range scale {
					scale[k] = 1 / (255 * float64(float32(0.5)))
					shift[k] = -0.5
				}
			}
			nets, flat := handNets(t, net, d)
			wantAcc, wantLoss := make([]float64, len(nets)), make([]float64, len(nets))
			for i, w := range nets {
				wantAcc[i], wantLoss[i] = refEval(w, split, d, 3, scale, shift)
			}
			if want := float64(41*3/4) / 41; wantAcc[0] != want || wantAcc[5] != want {
				t.Fatalf("reference: argmax nets %v, %v accurate, want %v", wantAcc[0], wantAcc[5], want)
			}
			for _, bm := range []int{3, 1, 7, 10, 0} { // 3: groups 3+3+1, the last padded
				acc, loss, err := Accuracy(be, net, flat, len(nets), split, nil, norm, bm)
				if err != nil {
					t.Fatal(err)
				}
				if len(acc) != len(nets) || len(loss) != len(nets) {
					t.Fatalf("batch %d: %d accuracies, %d losses for %d nets", bm, len(acc), len(loss), len(nets))
				}
				for i := range nets {
					if acc[i] != float32(wantAcc[i]) {
						t.Errorf("batch %d net %d: accuracy %v, want %v", bm, i, acc[i], wantAcc[i])
					}
					if math.Abs(float64(loss[i])-wantLoss[i]) > 1e-5*max(1, wantLoss[i]) {
						t.Errorf("batch %d net %d: loss %v, want %v", bm, i, loss[i], wantLoss[i])
					}
				}
			}
		})
	}
}

func TestAccuracyErrors(t *testing.T) {
	be, _, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	net, _ := arch.New(arch.MLP([]int{6}, 3, 3))
	split := featureSplit(10, 6, 1)
	p := net.Layout().Size()
	if _, _, err := Accuracy(be, net, make([]float32, 2*p-1), 2, split, nil, nil, 2); err == nil {
		t.Fatal("short weights: no error")
	}
	if _, _, err := Accuracy(be, net, make([]float32, p), 1, split, []int{7}, nil, 1); err == nil {
		t.Fatal("wrong example shape: no error")
	}
	split.Labels[3] = 3
	if _, _, err := Accuracy(be, net, make([]float32, p), 1, split, nil, nil, 1); err == nil {
		t.Fatal("label out of range: no error")
	}
}
