package eval

import (
	"math"
	"testing"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/backend"
)

// TestPathLossHandNets builds a 4-snapshot "path" of 3 nets each from the hand-set nets of
// accuracy_test.go, whose accuracy and loss are known exactly, and checks the per-time summaries,
// the per-net values and their agreement with Accuracy, for several group sizes.
func TestPathLossHandNets(t *testing.T) {
	be, _, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	net, err := arch.New(arch.MLP([]int{6}, 3, 3))
	if err != nil {
		t.Fatal(err)
	}
	d, p := 6, net.Layout().Size()
	split := featureSplit(41, d, 7)
	scale := make([]float64, d)
	for k := range scale {
		scale[k] = 1.0 / 255
	}
	nets, flat := handNets(t, net, d)
	refAcc, refLoss := make([]float64, len(nets)), make([]float64, len(nets))
	for i, w := range nets {
		refAcc[i], refLoss[i] = refEval(w, split, d, 3, scale, nil)
	}
	const T, N = 4, 3
	pick := func(k, i int) int { return (2*k + i) % len(nets) } // snapshot k holds nets 2k, 2k+1, 2k+2 (mod 7)
	snaps := make([][]float32, T)
	for k := range snaps {
		for i := 0; i < N; i++ {
			snaps[k] = append(snaps[k], flat[pick(k, i)*p:(pick(k, i)+1)*p]...)
		}
	}
	times := []float64{0, 0.25, 0.6, 1}
	for _, bm := range []int{0, 1, 2, 5, N * T, 100} {
		c, err := PathLoss(be, net, snaps, times, split, nil, nil, bm)
		if err != nil {
			t.Fatalf("batch %d: %v", bm, err)
		}
		if len(c.Times) != T || len(c.Loss) != T || len(c.Acc) != T || len(c.NetLoss) != T || len(c.NetAcc) != T {
			t.Fatalf("batch %d: %d times, %d/%d summaries, %d/%d per-net rows", bm, len(c.Times), len(c.Loss), len(c.Acc), len(c.NetLoss), len(c.NetAcc))
		}
		for k := 0; k < T; k++ {
			if c.Times[k] != times[k] {
				t.Errorf("time %d is %v, want %v", k, c.Times[k], times[k])
			}
			var accs, losses []float64
			for i := 0; i < N; i++ {
				j := pick(k, i)
				if c.NetAcc[k][i] != float32(refAcc[j]) || math.Abs(float64(c.NetLoss[k][i])-refLoss[j]) > 1e-5*max(1, refLoss[j]) {
					t.Errorf("batch %d, snapshot %d, net %d: acc %v loss %v, want %v %v", bm, k, i, c.NetAcc[k][i], c.NetLoss[k][i], refAcc[j], refLoss[j])
				}
				accs, losses = append(accs, refAcc[j]), append(losses, refLoss[j])
			}
			mAcc, sAcc := meanStd(accs)
			mLoss, sLoss := meanStd(losses)
			if math.Abs(c.Acc[k].Mean-mAcc) > 1e-6 || math.Abs(c.Acc[k].Std-sAcc) > 1e-6 || c.Acc[k].N != N {
				t.Errorf("batch %d, snapshot %d: accuracy %.6f ± %.6f (n %d), want %.6f ± %.6f", bm, k, c.Acc[k].Mean, c.Acc[k].Std, c.Acc[k].N, mAcc, sAcc)
			}
			if math.Abs(c.Loss[k].Mean-mLoss) > 1e-5*max(1, mLoss) || math.Abs(c.Loss[k].Std-sLoss) > 1e-5*max(1, sLoss) {
				t.Errorf("batch %d, snapshot %d: loss %.6f ± %.6f, want %.6f ± %.6f", bm, k, c.Loss[k].Mean, c.Loss[k].Std, mLoss, sLoss)
			}
			// Agreement with Accuracy on the snapshot alone.
			acc, loss, err := Accuracy(be, net, snaps[k], N, split, nil, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < N; i++ {
				if acc[i] != c.NetAcc[k][i] || math.Abs(float64(loss[i]-c.NetLoss[k][i])) > 1e-6*max(1, float64(loss[i])) {
					t.Errorf("snapshot %d net %d: PathLoss %v/%v, Accuracy %v/%v", k, i, c.NetAcc[k][i], c.NetLoss[k][i], acc[i], loss[i])
				}
			}
		}
		if bm == 0 {
			lm, ls := Means(c.Loss), Stds(c.Loss)
			if len(lm) != T || lm[2] != c.Loss[2].Mean || ls[3] != c.Loss[3].Std {
				t.Errorf("Means/Stds: %v %v", lm, ls)
			}
		}
	}

	// Times default to an even grid on [0, 1]; a diverged net's NaN loss is counted apart.
	bad := append([]float32(nil), snaps[1]...)
	bad[p+2] = float32(math.NaN())
	c, err := PathLoss(be, net, [][]float32{snaps[0], bad, snaps[2]}, nil, split, nil, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if c.Times[0] != 0 || c.Times[1] != 0.5 || c.Times[2] != 1 {
		t.Errorf("default times %v", c.Times)
	}
	if c.Loss[1].NonFinite != 1 || c.Loss[1].N != N-1 || c.Loss[0].NonFinite != 0 {
		t.Errorf("NaN net: loss summary %+v", c.Loss[1])
	}
	if c, err := PathLoss(be, net, snaps[:1], nil, split, nil, nil, 0); err != nil || c.Times[0] != 0 {
		t.Errorf("one snapshot: times %v, err %v", c.Times, err)
	}
}

func TestPathLossErrors(t *testing.T) {
	be, _, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	net, _ := arch.New(arch.MLP([]int{6}, 3, 3))
	p := net.Layout().Size()
	split := featureSplit(10, 6, 1)
	ok := make([]float32, 2*p)
	for name, tc := range map[string]struct {
		snaps [][]float32
		times []float64
		shape []int
	}{
		"no snapshots":     {nil, nil, nil},
		"times mismatch":   {[][]float32{ok, ok}, []float64{0}, nil},
		"not a multiple":   {[][]float32{make([]float32, p+1)}, nil, nil},
		"empty snapshot":   {[][]float32{{}}, nil, nil},
		"ragged snapshots": {[][]float32{ok, make([]float32, p)}, nil, nil},
		"wrong shape":      {[][]float32{ok}, nil, []int{7}},
	} {
		if _, err := PathLoss(be, net, tc.snaps, tc.times, split, tc.shape, nil, 0); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	split.Labels[3] = 5
	if _, err := PathLoss(be, net, [][]float32{ok}, nil, split, nil, nil, 0); err == nil {
		t.Error("label out of range: no error")
	}
}

// meanStd is the mean and population standard deviation.
func meanStd(v []float64) (float64, float64) {
	var m, s float64
	for _, x := range v {
		m += x
	}
	m /= float64(len(v))
	for _, x := range v {
		s += (x - m) * (x - m)
	}
	return m, math.Sqrt(s / float64(len(v)))
}
