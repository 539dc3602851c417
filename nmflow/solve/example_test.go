package solve_test

import (
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX graph code reads best dot-imported.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/solve"
)

// Integrate dx/dt = −x from x(0) = 1 to t = 1 with RK4; the exact answer is e⁻¹.
func Example() {
	be := backend.MustDefault()
	decay := func(x, _ *Node) *Node { return Neg(x) } // the velocity field, built into each step's graph
	x0 := tensors.FromValue([][]float32{{1}})         // [N=1, D=1]
	res, err := solve.Integrate(solve.GraphCompiler(be, decay), x0, solve.Options{Method: "rk4", Steps: 20})
	if err != nil {
		panic(err)
	}
	x1 := res.X.Value().([][]float32)[0][0]
	fmt.Printf("x(1) = %.4f, exp(-1) = %.4f, %d steps, %d evaluations\n", x1, math.Exp(-1), res.Steps, res.NFE)

	// Dopri5 picks its own steps to meet the tolerances.
	res, err = solve.Integrate(solve.GraphCompiler(be, decay), x0, solve.Options{Method: "dopri5", Rtol: 1e-6, Atol: 1e-8})
	if err != nil {
		panic(err)
	}
	fmt.Printf("dopri5: x(1) = %.5f\n", res.X.Value().([][]float32)[0][0])
	// Output:
	// x(1) = 0.3679, exp(-1) = 0.3679, 20 steps, 80 evaluations
	// dopri5: x(1) = 0.36788
}
