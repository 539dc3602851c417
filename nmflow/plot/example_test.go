package plot_test

import (
	"bytes"
	"fmt"
	"image/png"
	"log"

	"gonum.org/v1/plot/vg"

	"github.com/nmflow/nmflow/nmflow/plot"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// Example draws a toy zoo: 3 runs of a 3-parameter "network", 4 checkpoints each, training
// moves every run along the first axis while the runs differ along the second.
func Example() {
	z := &traj.Zoo{
		Runs: 3, Checkpoints: 4, Params: 3,
		Steps: []int64{0, 100, 200, 300},
		Weights: []float32{
			0, -1, 0, 1, -1, 0.1, 2, -1, 0, 3, -1, 0.1, // run 0
			0, 0, 0, 1, 0, 0, 2, 0, 0.1, 3, 0, 0, // run 1
			0, 1, 0.1, 1, 1, 0, 2, 1, 0, 3, 1, 0, // run 2
		},
		Metrics: map[string][]float32{
			traj.MetricTestAcc: {0.1, 0.6, 0.8, 0.9, 0.1, 0.5, 0.8, 0.9, 0.1, 0.6, 0.7, 0.9},
		},
	}

	// Trajectories in the PCA plane, plus two "generated" nets projected onto the same plane.
	p, pca, err := plot.PCATrajectories(z)
	if err != nil {
		log.Fatal(err)
	}
	generated := [][]float32{{3, 0.5, 0}, {2.5, -0.5, 0}}
	if _, err := plot.AddPoints(p, pca, generated, "generated"); err != nil {
		log.Fatal(err)
	}
	x, y := pca.Project(generated[0])
	fmt.Printf("explained: PC1 %.2f, PC2 %.2f\n", pca.Explained[0], pca.Explained[1])
	fmt.Printf("generated[0] at (%.2f, %.2f)\n", x, y)

	b, err := plot.Render(p, plot.DefaultWidth, plot.DefaultHeight, "png")
	if err != nil {
		log.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("png size:", img.Bounds().Size())

	// Training curves and weight histograms render side by side into one image.
	curves, err := plot.TrainingCurvesGrid(z)
	if err != nil {
		log.Fatal(err)
	}
	hists, err := plot.WeightHistograms(z, []int{0, 3})
	if err != nil {
		log.Fatal(err)
	}
	grid, err := plot.RenderGrid(2, 4*vg.Inch, 3*vg.Inch, "svg", append(curves, hists...)...)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(curves), "curve plot,", len(hists), "histogram plot, svg:", bytes.HasPrefix(grid, []byte("<?xml")))
	// Output:
	// explained: PC1 0.65, PC2 0.35
	// generated[0] at (1.50, 0.50)
	// png size: (720,504)
	// 1 curve plot, 1 histogram plot, svg: true
}
