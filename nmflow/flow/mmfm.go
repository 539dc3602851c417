package flow

import (
	"fmt"
	"math"

	"github.com/nmflow/nmflow/nmflow/spline"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// NM-MMFM (METHODS.md §3): each training example is a whole run. Its anchors are the run's init
// at t = 0, k intermediate checkpoints and the target checkpoint at t = 1; the path is an
// interpolant P_r(t) through them, and the network regresses P_r'(t) (or the endpoint of its
// tangent, PredictTarget). With no intermediate anchors the path is the straight line of CFM.
//
// A source draw x0 that is not the run's own init θ0 (the independent coupling) re-roots the run:
// anchor j becomes a_j + (1 − t_j)·(x0 − θ0), so the path starts at x0, ends at the run's trained
// net, and between them follows the run's own shape while the difference of inits fades linearly.
// Interpolants reproduce straight lines, so this is P_r(t) + (1 − t)·(x0 − θ0) exactly. Without
// it, a fresh init and the run's checkpoint 1 (≈ θ0 plus a step) are two unrelated random nets,
// and the first segment asks the network to carry noise to other noise. JKO's pairs are re-rooted
// the same way.
//
// This file places the anchors (which checkpoints, at which times) and re-roots them; the
// interpolant and its noise are mmfmPath (path.go).

// MMFMConfig chooses the anchors and the interpolant of Method MMFM.
type MMFMConfig struct {
	// Interp is InterpCubic (not-a-knot cubic spline, default) or InterpLinear.
	Interp string `json:"interp"`
	// Times places the anchors in time: TimesUniform (t_j = j/(k+1), default), TimesSteps
	// (proportional to the training step of each checkpoint) or TimesArc (proportional to the
	// distance the runs have travelled, so the path moves at a steady speed).
	Times string `json:"times"`
	// Noise is NoiseConstant (σ = Config.Sigma everywhere, default) or NoiseAdaptive
	// (σ_t = M·√(s(1−s)) with M = Config.Sigma and s the time between the two neighbouring anchors
	// normalized to [0,1], floored at SigmaMin: no noise at the anchors themselves).
	Noise    string  `json:"noise"`
	SigmaMin float64 `json:"sigma_min,omitempty"` // floor d of the adaptive σ (default 0)
}

// Values of MMFMConfig fields.
const (
	NoIntermediates = -1
	InterpCubic     = "cubic"
	InterpLinear    = "linear"
	TimesUniform    = "uniform"
	TimesSteps      = "steps"
	TimesArc        = "arc"
	NoiseConstant   = "constant"
	NoiseAdaptive   = "adaptive"
)

func (c MMFMConfig) withDefaults() MMFMConfig {
	if c.Interp == "" {
		c.Interp = InterpCubic
	}
	if c.Times == "" {
		c.Times = TimesUniform
	}
	if c.Noise == "" {
		c.Noise = NoiseConstant
	}
	return c
}

func (c MMFMConfig) validate() error {
	switch {
	case c.Interp != InterpCubic && c.Interp != InterpLinear:
		return fmt.Errorf("flow: unknown mmfm interpolant %q (want %s or %s)", c.Interp, InterpCubic, InterpLinear)
	case c.Times != TimesUniform && c.Times != TimesSteps && c.Times != TimesArc:
		return fmt.Errorf("flow: unknown mmfm anchor times %q (want %s, %s or %s)", c.Times, TimesUniform, TimesSteps, TimesArc)
	case c.Noise != NoiseConstant && c.Noise != NoiseAdaptive:
		return fmt.Errorf("flow: unknown mmfm noise schedule %q (want %s or %s)", c.Noise, NoiseConstant, NoiseAdaptive)
	case c.SigmaMin < 0 || math.IsNaN(c.SigmaMin):
		return fmt.Errorf("flow: mmfm sigma_min must be ≥ 0, got %v", c.SigmaMin)
	}
	return nil
}

// AnchorCheckpoints returns the zoo checkpoints that anchor a path ending at checkpoint target:
// 0, then k intermediates spread evenly over 1..target−1 (k = 0: all, NoIntermediates: none),
// then target. CFM's anchors are {0, target}.
func AnchorCheckpoints(target, k int) ([]int, error) {
	inner := target - 1
	switch {
	case k == 0:
		k = inner
	case k == NoIntermediates:
		k = 0
	case k < 0 || k > inner:
		return nil, fmt.Errorf("flow: %d intermediate anchors asked, but checkpoints 1..%d hold only %d", k, target-1, inner)
	}
	idx := []int{0}
	for j := 1; j <= k; j++ {
		idx = append(idx, int(math.Round(float64(j*target)/float64(k+1))))
	}
	return append(idx, target), nil
}

// CheckpointTimes maps checkpoints of z to flow times in [0,1]: uniform over the given anchors
// (TimesUniform), proportional to their training steps (TimesSteps), or to the mean distance the
// runs travelled through every checkpoint up to each (TimesArc).
func CheckpointTimes(mode string, z *traj.Zoo, ckpts []int) ([]float64, error) {
	steps := z.Steps
	n := len(ckpts)
	if n < 2 {
		return nil, fmt.Errorf("flow: need at least 2 checkpoints to place in time, got %d", n)
	}
	out := make([]float64, n)
	switch mode {
	case TimesUniform, "":
		for j := range out {
			out[j] = float64(j) / float64(n-1)
		}
	case TimesSteps:
		for _, c := range ckpts {
			if c < 0 || c >= len(steps) {
				return nil, fmt.Errorf("flow: checkpoint %d out of range (the zoo has %d)", c, len(steps))
			}
		}
		s0, s1 := float64(steps[ckpts[0]]), float64(steps[ckpts[n-1]])
		for j, c := range ckpts {
			out[j] = (float64(steps[c]) - s0) / (s1 - s0)
			if j > 0 && !(out[j] > out[j-1]) {
				return nil, fmt.Errorf("flow: checkpoint steps must increase to place anchors in time, got %v", steps)
			}
		}
	case TimesArc:
		first, last := ckpts[0], ckpts[n-1]
		if first < 0 || last >= z.Checkpoints {
			return nil, fmt.Errorf("flow: checkpoints %d..%d out of range (the zoo has %d)", first, last, z.Checkpoints)
		}
		arc := make([]float64, last+1) // arc[c]: mean distance travelled from checkpoint first to c
		for c := first + 1; c <= last; c++ {
			var d float64
			for r := range z.Runs {
				d += dist(z.At(r, c-1), z.At(r, c)) / float64(z.Runs)
			}
			arc[c] = arc[c-1] + d
		}
		for j, c := range ckpts {
			out[j] = (arc[c] - arc[first]) / (arc[last] - arc[first])
			if j > 0 && !(out[j] > out[j-1]) {
				return nil, fmt.Errorf("flow: the runs do not move between checkpoints %d and %d; use --anchor-times uniform", ckpts[j-1], c)
			}
		}
	default:
		return nil, fmt.Errorf("flow: unknown anchor times %q (want %s, %s or %s)", mode, TimesUniform, TimesSteps, TimesArc)
	}
	return out, nil
}

func dist(a, b []float32) float64 {
	var s float64
	for i := range a {
		d := float64(a[i] - b[i])
		s += d * d
	}
	return math.Sqrt(s)
}

// setupAnchors picks and normalizes the intermediate anchors of MMFM and JKO and places them in
// time; for MMFM it builds the interpolant.
func (t *trainer) setupAnchors(z *traj.Zoo, target int) error {
	c := t.cfg.MMFM
	ckpts, err := AnchorCheckpoints(target, t.cfg.Intermediates)
	if err != nil {
		return err
	}
	knots, err := CheckpointTimes(c.Times, z, ckpts)
	if err != nil {
		return err
	}
	for _, k := range ckpts[1 : len(ckpts)-1] {
		m := z.Checkpoint(k)
		t.src.norm.Forward(m)
		t.mid = append(t.mid, m)
	}
	t.m.AnchorCheckpoints, t.m.AnchorTimes = ckpts, knots
	if t.cfg.Method != MethodMMFM {
		return nil
	}
	kind, err := spline.ParseKind(c.Interp)
	if err != nil {
		return err
	}
	basis, err := spline.NewBasis(kind, knots)
	if err != nil {
		return err
	}
	t.path = &mmfmPath{basis: basis, knots: knots, sigma: t.cfg.Sigma, adaptive: c.Noise == NoiseAdaptive, sigmaMin: c.SigmaMin}
	return nil
}

// reroot fills sc.anchors for run r with source draw x0 and target x1 (see the top of this file):
// the run's own anchors when x0 is its init (trajectory coupling), re-rooted at x0 otherwise. The
// re-rooted anchors are written into the scratch's own rows, never into the zoo.
func (t *trainer) reroot(sc *scratch, r int, x0, x1 []float32) {
	p := t.p
	last := len(sc.anchors) - 1
	sc.anchors[0], sc.anchors[last] = x0, x1
	own := t.cfg.Coupling == CouplingTrajectory
	for j, m := range t.mid {
		a := m[r*p : (r+1)*p]
		if own {
			sc.anchors[j+1] = a
			continue
		}
		if sc.rerooted[j] == nil {
			sc.rerooted[j] = make([]float32, p)
		}
		w := float32(1 - t.m.AnchorTimes[j+1])
		th0, dst := t.x0s[r*p:(r+1)*p], sc.rerooted[j]
		for i := range dst {
			dst[i] = a[i] + w*(x0[i]-th0[i])
		}
		sc.anchors[j+1] = dst
	}
}
