package plot

import (
	"image/color"

	gplot "gonum.org/v1/plot"
)

// ROC draws ROC curves, each a Series of false-positive rates (X) and true-positive rates (Y)
// such as detect.ROC returns, on the unit square with the chance diagonal dashed in grey.
// Options: WithTitle.
func ROC(curves []Series, opts ...Option) (*gplot.Plot, error) {
	chance := Series{X: []float64{0, 1}, Y: []float64{0, 1}, Color: color.Gray{Y: 150}, Dashed: true}
	p, err := Lines("false-positive rate", "true-positive rate", false, false, append(curves, chance), opts...)
	if err != nil {
		return nil, err
	}
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1.02
	return p, nil
}
