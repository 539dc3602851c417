package flow

// The probability path of flow matching, kept apart from the loss and the solver (as in Meta's
// flow_matching library): the linear (conditional-OT) path
//
//	x_t = (1 − t)·x0 + t·x1 + σ·ε,   u_t = x1 − x0.
//
// It is evaluated on the host, where the minibatch is assembled anyway: the step graph then gets
// x_t and its regression target directly, which saves the Go backend several broadcast passes
// over [B,P] per step.

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
