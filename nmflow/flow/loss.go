package flow

import (
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"
)

// The losses of a training step, after the path (path.go) has given x_t and its target:
//
//   - CFM and MMFM, PredictVelocity: ‖v_φ(x_t, t) − u_t‖², the conditional flow-matching loss.
//   - PredictTarget (endpoint prediction): ‖x_t + v_φ(x_t, t) − D‖² with D = x_t + (1 − t)·u_t,
//     the point the path's tangent reaches at t = 1; the sampler's field is (D − x_t)/(1 − t).
//   - JKO: ‖τ·∇V(x_k, t_{k+1}) + x_{k+1} − x_k‖², the explicit step's loss (jko.go holds V).

// stepGraph: inputs x_t, target [B,P] (see batch), t [B] (and the condition's two inputs) → the
// loss and the gradients of t.optVars (every trainable variable of the velocity net, by path),
// for hostOptimizer. CFM and MMFM: the mean squared error of the velocity (PredictVelocity) or of
// the endpoint estimate x_t + net (PredictTarget). JKO: see jkoLoss.
func (t *trainer) stepGraph(scope *model.Scope, in []*Node) []*Node {
	if t.compiles != nil {
		*t.compiles++
	}
	xt, target, tt := in[0], in[1], in[2]
	g := xt.Graph()
	vel := scope.In("vel")
	var loss *Node
	var grads []*Node
	if t.cfg.Method == MethodJKO {
		loss = jkoLoss(vel, t.cfg, xt, target, tt, t.m.AnchorTimes)
		t.optVars = trainable(vel, g)
		grads = Gradient(loss, varNodes(t.optVars, g)...)
	} else {
		var cond *Node
		if t.cond != nil {
			cond = t.trainCond(vel, in[3], in[4])
		}
		v, w := velocity(vel, t.cfg.Net, xt, tt, cond)
		if t.cfg.Predict == PredictTarget {
			v = Add(xt, v)
		}
		loss = ReduceAllMean(Square(Sub(v, target)))
		t.optVars, grads = w.gradients(vel, loss)
	}
	return append([]*Node{loss}, grads...)
}

// minRemaining bounds 1 − t when turning an endpoint prediction into a velocity.
const minRemaining = 0.01

// fieldFromOutput turns the network output into the velocity field at time t ([B] or scalar).
func fieldFromOutput(predict string, out, t *Node) *Node {
	if predict != PredictTarget {
		return out
	}
	rem := Max(OneMinus(t), Scalar(t.Graph(), t.DType(), minRemaining))
	if rem.Rank() > 0 {
		rem = InsertAxes(rem, -1)
	}
	return Div(out, rem)
}

// What the velocity network predicts (Config.Predict).
const (
	PredictVelocity = "velocity"
	PredictTarget   = "target"
)

// jkoLoss is the mean over the batch of ‖τ·∇V(x_k, t_{k+1}) + x_{k+1} − x_k‖² / D.
func jkoLoss(scope *model.Scope, cfg Config, prev, next, t *Node, times []float64) *Node {
	_, grad := potential(scope, cfg, prev, t, times)
	return ReduceAllMean(Square(Add(MulScalar(grad, cfg.JKO.Tau), Sub(next, prev))))
}

// endpointTarget turns the path's velocity u (one row, in place) into the endpoint prediction's
// target D = x_t + (1 − t)·u_t: the sampler's velocity (D − x_t)/(1 − t) is u_t again.
func endpointTarget(xt, u []float32, t float32) {
	rem := 1 - t
	for j := range u {
		u[j] = xt[j] + rem*u[j]
	}
}
