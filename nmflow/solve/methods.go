package solve

import (
	"fmt"
	"sort"
	"strings"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX graph code reads best dot-imported.
)

// method describes one integrator: fixed-step methods need only step; adaptive ones also init.
type method struct {
	name     string
	order    int  // global order of accuracy (Dopri5: of the propagated 5th-order solution)
	adaptive bool // step-size control from an embedded error estimate
	nfe      int  // velocity evaluations per step (Dopri5: per attempted step, thanks to FSAL)
	step     StepFn
	init     StepFn // adaptive only: first derivative and initial step size
}

var methods = map[string]*method{
	"euler":    {name: "euler", order: 1, nfe: 1, step: EulerStep},
	"midpoint": {name: "midpoint", order: 2, nfe: 2, step: MidpointStep},
	"rk4":      {name: "rk4", order: 4, nfe: 4, step: RK4Step},
	"dopri5":   {name: "dopri5", order: 5, adaptive: true, nfe: 6, step: Dopri5Step, init: Dopri5InitStep},
}

// Methods lists the valid method names, sorted.
func Methods() []string {
	names := make([]string, 0, len(methods))
	for n := range methods {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Order returns a method's order of accuracy (1 Euler, 2 midpoint, 4 RK4, 5 Dopri5) and whether it
// adapts its step size.
func Order(name string) (order int, adaptive bool, err error) {
	m, err := lookup(name)
	if err != nil {
		return 0, false, err
	}
	return m.order, m.adaptive, nil
}

func lookup(name string) (*method, error) {
	m, ok := methods[strings.ToLower(strings.TrimSpace(name))]
	if !ok {
		return nil, fmt.Errorf("solve: unknown method %q (valid: %s)", name, strings.Join(Methods(), ", "))
	}
	return m, nil
}

// axpy returns x + Σ coef[j]·k[j] (just the sum when x is nil) with coef[j] already scaled by dt
// (scalar nodes); zero terms (nil coefficient) are skipped, so each live term costs one pass.
func axpy(x *Node, ks []*Node, coefs []*Node) *Node {
	acc := x
	for j, c := range coefs {
		if c == nil {
			continue
		}
		if term := Mul(ks[j], c); acc == nil {
			acc = term
		} else {
			acc = Add(acc, term)
		}
	}
	return acc
}

// scaled returns the scalar nodes c·dt for a row of a Butcher tableau (nil for zero entries).
func scaled(dt *Node, row ...float64) []*Node {
	out := make([]*Node, len(row))
	for i, c := range row {
		if c != 0 {
			out[i] = MulScalar(dt, c)
		}
	}
	return out
}

// EulerStep is x + dt·v(x, t): first order, one evaluation.
func EulerStep(v VelocityFn, x, t, dt *Node, _ ...*Node) []*Node {
	return []*Node{Add(x, Mul(v(x, t), dt))}
}

// MidpointStep is the explicit midpoint rule: x + dt·v(x + dt/2·v(x, t), t + dt/2). Second order.
func MidpointStep(v VelocityFn, x, t, dt *Node, _ ...*Node) []*Node {
	half := MulScalar(dt, 0.5)
	k1 := v(x, t)
	k2 := v(Add(x, Mul(k1, half)), Add(t, half))
	return []*Node{Add(x, Mul(k2, dt))}
}

// RK4Step is the classical fourth-order Runge–Kutta step (four evaluations).
func RK4Step(v VelocityFn, x, t, dt *Node, _ ...*Node) []*Node {
	half := MulScalar(dt, 0.5)
	tHalf := Add(t, half)
	k1 := v(x, t)
	k2 := v(Add(x, Mul(k1, half)), tHalf)
	k3 := v(Add(x, Mul(k2, half)), tHalf)
	k4 := v(Add(x, Mul(k3, dt)), Add(t, dt))
	ks := []*Node{k1, k2, k3, k4}
	return []*Node{axpy(x, ks, scaled(dt, 1.0/6, 2.0/6, 2.0/6, 1.0/6))}
}

// Dormand–Prince 5(4) tableau (Dormand & Prince 1980; Hairer, Nørsett & Wanner, Table II.5.2).
var (
	dpC = [7]float64{0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1, 1}
	dpA = [6][]float64{
		{1.0 / 5},
		{3.0 / 40, 9.0 / 40},
		{44.0 / 45, -56.0 / 15, 32.0 / 9},
		{19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
		{9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
		{35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84}, // = b, the 5th-order weights (FSAL)
	}
	// dpE = b − b̂ (5th minus embedded 4th-order weights), over k1…k7.
	dpE = []float64{71.0 / 57600, 0, -71.0 / 16695, 71.0 / 1920, -17253.0 / 339200, 22.0 / 525, -1.0 / 40}
)

// Dopri5Step is one attempted Dormand–Prince 5(4) step with first-same-as-last: extra holds
// k1 = v(x, t) (carried from the previous step), atol and rtol. It returns
//
//	[x', k1', errNorm]
//
// where errNorm = RMS(err / (atol + rtol·max(|x|, |x5|))) over all elements (torchdiffeq's and
// scipy's norm), and the step is accepted when errNorm ≤ 1. The choice is made in the graph
// (x' = accepted ? x5 : x, k1' = accepted ? v(x5, t+dt) : k1), so the state and k1 can be donated
// every attempt and a rejected step retries from the unchanged state; the Go side reads only the
// scalar norm, with the same comparison, to pick the next dt. Six evaluations per attempt.
func Dopri5Step(v VelocityFn, x, t, dt *Node, extra ...*Node) []*Node {
	if len(extra) != 3 {
		panic(fmt.Errorf("solve: Dopri5Step needs extras (k1, atol, rtol), got %d", len(extra)))
	}
	g, dtype := x.Graph(), x.DType()
	k1, atol, rtol := extra[0], ConvertDType(extra[1], dtype), ConvertDType(extra[2], dtype)
	ks := []*Node{k1}
	var x5 *Node
	for i, row := range dpA {
		xi := axpy(x, ks, scaled(dt, row...))
		ti := Add(t, MulScalar(dt, dpC[i+1]))
		if i == len(dpA)-1 {
			x5 = xi
		}
		ks = append(ks, v(xi, ti)) // k2…k7; k7 = v(x5, t+dt) is the next step's k1
	}
	errVec := axpy(nil, ks, scaled(dt, dpE...))
	scale := Add(atol, Mul(rtol, Max(Abs(x), Abs(x5))))
	norm := Sqrt(ReduceAllMean(Square(Div(errVec, scale))))
	accept := BroadcastToDims(LessOrEqual(norm, Scalar(g, dtype, 1)), x.Shape().Dimensions...)
	return []*Node{Where(accept, x5, x), Where(accept, ks[6], k1), norm}
}

// Dopri5InitStep computes k1 = v(x, t0) and the initial step size by Hairer, Nørsett & Wanner's
// rule (II.4, as in scipy's select_initial_step and torchdiffeq), in one graph of two evaluations.
// Its dt input is the signed interval T1 − T0, whose sign gives the direction and whose magnitude
// caps the step; extra holds atol and rtol. It returns [k1, h] with h > 0 (the magnitude).
func Dopri5InitStep(v VelocityFn, x, t, span *Node, extra ...*Node) []*Node {
	if len(extra) != 2 {
		panic(fmt.Errorf("solve: Dopri5InitStep needs extras (atol, rtol), got %d", len(extra)))
	}
	g, dtype := x.Graph(), x.DType()
	atol, rtol := ConvertDType(extra[0], dtype), ConvertDType(extra[1], dtype)
	sc := func(c float64) *Node { return Scalar(g, dtype, c) }
	rms := func(a *Node) *Node { return Sqrt(ReduceAllMean(Square(a))) }
	f0 := v(x, t)
	scale := Add(atol, Mul(rtol, Abs(x)))
	d0, d1 := rms(Div(x, scale)), rms(Div(f0, scale))
	length, dir := Abs(span), Sign(span)
	small := LogicalOr(LessThan(d0, sc(1e-5)), LessThan(d1, sc(1e-5)))
	h0 := Min(Where(small, sc(1e-6), MulScalar(Div(d0, d1), 0.01)), length)
	sh0 := Mul(dir, h0)
	f1 := v(Add(x, Mul(f0, sh0)), Add(t, sh0))
	d2 := Div(rms(Div(Sub(f1, f0), scale)), h0)
	dm := Max(d1, d2)
	h1 := Where(LessOrEqual(dm, sc(1e-15)),
		Max(sc(1e-6), MulScalar(h0, 1e-3)),
		Pow(Div(sc(0.01), dm), sc(1.0/5))) // exponent 1/(q+1), q = 4 the embedded order
	h := Min(Min(MulScalar(h0, 100), h1), length)
	return []*Node{f0, h}
}
