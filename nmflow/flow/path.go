package flow

import (
	"math"

	"github.com/nmflow/nmflow/nmflow/spline"
)

// The probability paths of flow matching, kept apart from the losses (loss.go) and the solver
// (package solve), as in Meta's flow_matching library: CFM's linear (conditional-OT) path
//
//	x_t = (1 − t)·x0 + t·x1 + σ·ε,   u_t = x1 − x0,
//
// MMFM's interpolant through a run's anchors with constant or adaptive noise (mmfmPath; the
// anchors are placed and re-rooted in mmfm.go), and the law of the training times (skewTime).
//
// It is evaluated on the host, where the minibatch is assembled anyway: the step graph then gets
// x_t and its regression target directly, which saves the Go backend several broadcast passes
// over [B,P] per step.

// skewTime maps a uniform draw u to a training time: u^skew for skew > 1 (Config.TimeSkew), which
// puts more weight on early times.
func skewTime(u, skew float64) float64 {
	if skew > 1 {
		return math.Pow(u, skew)
	}
	return u
}

// linearPath writes x_t into xt and the regression target into target for B rows of P values:
// u_t = x1 − x0 (PredictVelocity) or x1 (PredictTarget). eps is used when sigma > 0.
func linearPath(predict string, sigma float64, x0, x1, tt, eps, xt, target []float32) {
	p := len(x0) / len(tt)
	for i, t := range tt {
		a, b := 1-t, t
		for j := i * p; j < (i+1)*p; j++ {
			xt[j] = a*x0[j] + b*x1[j]
			if predict == PredictTarget {
				target[j] = x1[j]
			} else {
				target[j] = x1[j] - x0[j]
			}
		}
	}
	if sigma > 0 {
		s := float32(sigma)
		for j := range xt {
			xt[j] += s * eps[j]
		}
	}
}

// mmfmPath is the interpolant through a run's anchors plus noise.
type mmfmPath struct {
	basis    *spline.Basis
	knots    []float64
	sigma    float64
	adaptive bool
	sigmaMin float64
}

// fill writes x_t = P(t) + σ_t·ε and its target velocity u_t = P'(t) + σ'_t·ε for one example
// (the conditional velocity (σ'_t/σ_t)(x_t − P(t)) + P'(t) of METHODS.md §3, with x_t − P(t) = σ_t·ε).
func (m *mmfmPath) fill(anchors [][]float32, t float64, eps, xt, u []float32) error {
	if err := m.basis.Fill(anchors, t, xt, u); err != nil {
		return err
	}
	s, ds := m.noise(t)
	if s == 0 && ds == 0 {
		return nil
	}
	for j := range xt {
		xt[j] += float32(s) * eps[j]
		u[j] += float32(ds) * eps[j]
	}
	return nil
}

// noise returns σ_t and dσ/dt.
func (m *mmfmPath) noise(t float64) (s, ds float64) {
	if !m.adaptive || m.sigma == 0 {
		return m.sigma, 0
	}
	i := 0
	for i < len(m.knots)-2 && t >= m.knots[i+1] {
		i++
	}
	h := m.knots[i+1] - m.knots[i]
	v := math.Min(math.Max((t-m.knots[i])/h, 0), 1)
	r := math.Sqrt(v * (1 - v))
	if s = m.sigma * r; s <= m.sigmaMin || r == 0 {
		return m.sigmaMin, 0
	}
	return s, m.sigma * (1 - 2*v) / (2 * r) / h
}
