package plot

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

	"github.com/nmflow/nmflow/nmflow/traj"
)

func mustPNG(t *testing.T, b []byte, wantW, wantH int) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode png: %v", err)
	}
	if s := img.Bounds().Size(); s.X != wantW || s.Y != wantH {
		t.Errorf("png is %dx%d, want %dx%d", s.X, s.Y, wantW, wantH)
	}
}

// allFigures builds every kind of figure of the synthetic zoo.
func allFigures(t *testing.T) map[string]*gplot.Plot {
	t.Helper()
	z, _, _ := synthZoo(5, 6)
	figs := map[string]*gplot.Plot{}
	for _, m := range StandardMetrics() {
		p, err := TrainingCurves(z, m)
		if err != nil {
			t.Fatalf("TrainingCurves(%s): %v", m, err)
		}
		figs["curves_"+m] = p
	}
	p, pca, err := PCATrajectories(z)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AddPoints(p, pca, [][]float32{z.At(0, 5), z.At(1, 5)}, "generated"); err != nil {
		t.Fatal(err)
	}
	figs["pca"] = p
	hs, err := WeightHistograms(z, []int{0, 5})
	if err != nil {
		t.Fatal(err)
	}
	figs["hist"] = hs[0]
	return figs
}

func TestRenderPNGAndSVG(t *testing.T) {
	for name, p := range allFigures(t) {
		b, err := Render(p, DefaultWidth, DefaultHeight, "png")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		mustPNG(t, b, 720, 504) // 5×3.5 in at 144 dpi
		b, err = RenderDPI(p, 4*vg.Inch, 3*vg.Inch, "PNG", 50)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		mustPNG(t, b, 200, 150)
		s, err := Render(p, DefaultWidth, DefaultHeight, "svg")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.HasPrefix(s, []byte("<?xml")) && !bytes.HasPrefix(s, []byte("<svg")) {
			t.Errorf("%s: svg starts with %q", name, s[:min(len(s), 20)])
		}
	}
}

func TestRenderDeterministic(t *testing.T) {
	a, b := allFigures(t), allFigures(t)
	for name := range a {
		for _, f := range []string{"png", "svg"} {
			x, err := Render(a[name], DefaultWidth, DefaultHeight, f)
			if err != nil {
				t.Fatal(err)
			}
			y, err := Render(b[name], DefaultWidth, DefaultHeight, f)
			if err != nil {
				t.Fatal(err)
			}
			again, err := Render(a[name], DefaultWidth, DefaultHeight, f)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(x, y) || !bytes.Equal(x, again) {
				t.Errorf("%s %s: rendering is not deterministic", name, f)
			}
		}
	}
}

func TestRenderGrid(t *testing.T) {
	z, _, _ := synthZoo(5, 6)
	plots, err := TrainingCurvesGrid(z)
	if err != nil {
		t.Fatal(err)
	}
	if len(plots) != 3 {
		t.Fatalf("TrainingCurvesGrid gave %d plots, want 3", len(plots))
	}
	b, err := RenderGrid(3, 4*vg.Inch, 3*vg.Inch, "png", plots...)
	if err != nil {
		t.Fatal(err)
	}
	mustPNG(t, b, 3*576, 432)
	// 3 plots on 2 columns: 2 rows, one empty cell.
	b, err = RenderGrid(2, 4*vg.Inch, 3*vg.Inch, "png", plots...)
	if err != nil {
		t.Fatal(err)
	}
	mustPNG(t, b, 2*576, 2*432)
	if _, err := RenderGrid(0, DefaultWidth, DefaultHeight, "png", plots...); err == nil {
		t.Error("RenderGrid with 0 columns succeeded")
	}
	if _, err := RenderGrid(2, DefaultWidth, DefaultHeight, "png"); err == nil {
		t.Error("RenderGrid with no plots succeeded")
	}
	if _, err := RenderGrid(2, DefaultWidth, DefaultHeight, "png", nil, nil); err == nil {
		t.Error("RenderGrid with only nil plots succeeded")
	}
}

func TestTrainingCurvesGridSubset(t *testing.T) {
	z, _, _ := synthZoo(2, 3)
	delete(z.Metrics, traj.MetricTrainLoss)
	plots, err := TrainingCurvesGrid(z)
	if err != nil || len(plots) != 2 {
		t.Fatalf("got %d plots, err %v; want 2", len(plots), err)
	}
	z.Metrics = map[string][]float32{"other": make([]float32, 6)}
	if _, err := TrainingCurvesGrid(z); err == nil {
		t.Error("TrainingCurvesGrid without standard metrics succeeded")
	}
}

func TestTrainingCurvesEdgeCases(t *testing.T) {
	z, _, _ := synthZoo(3, 4)
	acc := z.Metrics[traj.MetricTestAcc]
	acc[0] = float32(math.NaN()) // a diverged run is skipped, not fatal
	for r := 0; r < z.Runs; r++ {
		acc[r*z.Checkpoints+1] = float32(math.NaN()) // a checkpoint with no finite value is dropped
	}
	p, err := TrainingCurves(z, traj.MetricTestAcc)
	if err != nil {
		t.Fatal(err)
	}
	if p.Y.Label.Text != "test accuracy" || p.X.Label.Text != "training step" {
		t.Errorf("labels %q / %q", p.X.Label.Text, p.Y.Label.Text)
	}
	if _, err := Render(p, DefaultWidth, DefaultHeight, "png"); err != nil {
		t.Fatal(err)
	}
	if _, err := TrainingCurves(z, traj.MetricTestLoss, WithLogY()); err != nil {
		t.Errorf("log axis for a positive loss: %v", err)
	}
	z.Metrics["signed"] = make([]float32, z.Runs*z.Checkpoints)
	if _, err := TrainingCurves(z, "signed", WithLogY()); err == nil {
		t.Error("log axis with zero values succeeded")
	}
	// Steps that do not increase fall back to checkpoint indices.
	for k := range z.Steps {
		z.Steps[k] = 0
	}
	p, err = TrainingCurves(z, traj.MetricTrainLoss, WithTitle("custom"))
	if err != nil {
		t.Fatal(err)
	}
	if p.X.Label.Text != "checkpoint k" || p.Title.Text != "custom" {
		t.Errorf("x label %q, title %q", p.X.Label.Text, p.Title.Text)
	}
}

func TestErrors(t *testing.T) {
	z, _, _ := synthZoo(3, 4)
	if _, err := TrainingCurves(z, "nope"); err == nil || !strings.Contains(err.Error(), "test_acc") {
		t.Errorf("unknown metric: err = %v, want one listing the metrics", err)
	}
	for name, bad := range map[string]*traj.Zoo{"nil": nil, "empty": {}, "short weights": {Runs: 1, Checkpoints: 1, Params: 2, Steps: []int64{0}}} {
		if _, err := TrainingCurves(bad, traj.MetricTestAcc); err == nil {
			t.Errorf("%s zoo: TrainingCurves succeeded", name)
		}
		if _, err := TrainingCurvesGrid(bad); err == nil {
			t.Errorf("%s zoo: TrainingCurvesGrid succeeded", name)
		}
		if _, _, err := PCATrajectories(bad); err == nil {
			t.Errorf("%s zoo: PCATrajectories succeeded", name)
		}
		if _, err := WeightHistograms(bad, nil); err == nil {
			t.Errorf("%s zoo: WeightHistograms succeeded", name)
		}
	}
	for _, ks := range [][]int{{-1}, {4}, {0, 0}} {
		if _, err := WeightHistograms(z, ks); err == nil {
			t.Errorf("checkpoints %v: WeightHistograms succeeded", ks)
		}
	}
	if _, err := WeightHistograms(z, nil, WithBins(0)); err == nil {
		t.Error("0 bins accepted")
	}
	p, pca, err := PCATrajectories(z)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AddPoints(p, pca, [][]float32{{1, 2}}, "x"); err == nil {
		t.Error("AddPoints with wrong P succeeded")
	}
	if _, err := AddPath(p, pca, nil, "x"); err == nil {
		t.Error("AddPath with no weights succeeded")
	}
	if _, _, err := PCATrajectories(z, WithPCA(&PCA{Mean: make([]float64, 3)})); err == nil {
		t.Error("PCATrajectories with a PCA of another size succeeded")
	}
	if _, err := Render(p, DefaultWidth, DefaultHeight, "gif"); err == nil {
		t.Error("gif accepted")
	}
	if _, err := Render(nil, DefaultWidth, DefaultHeight, "png"); err == nil {
		t.Error("nil plot accepted")
	}
	if _, err := Render(p, 0, DefaultHeight, "png"); err == nil {
		t.Error("zero width accepted")
	}
}

func TestPCATrajectoriesReuseAndOverlay(t *testing.T) {
	z, _, _ := synthZoo(4, 5)
	_, pca, err := PCATrajectories(z)
	if err != nil {
		t.Fatal(err)
	}
	p, same, err := PCATrajectories(z, WithPCA(pca), WithPaths(false), WithColorMap(Viridis()))
	if err != nil {
		t.Fatal(err)
	}
	if same != pca {
		t.Error("WithPCA: a different projection was returned")
	}
	if !strings.HasPrefix(p.X.Label.Text, "PC1 (") || !strings.HasSuffix(p.X.Label.Text, "% var)") {
		t.Errorf("x label %q", p.X.Label.Text)
	}
	path := [][]float32{z.At(0, 0), z.At(0, 2), z.At(0, 4)}
	if _, err := AddPath(p, pca, path, "ODE path"); err != nil {
		t.Fatal(err)
	}
	if _, err := AddPoints(p, pca, Rows(z.Checkpoint(4), z.Params), "samples", WithColor(SeriesColor(2))); err != nil {
		t.Fatal(err)
	}
	if _, err := Render(p, DefaultWidth, DefaultHeight, "png"); err != nil {
		t.Fatal(err)
	}
	// One checkpoint only: no finals, still a figure.
	z1, _, _ := synthZoo(3, 1)
	if p, _, err := PCATrajectories(z1); err != nil {
		t.Fatal(err)
	} else if _, err := Render(p, DefaultWidth, DefaultHeight, "png"); err != nil {
		t.Fatal(err)
	}
}

func TestWeightHistogramsSegments(t *testing.T) {
	z, _, _ := synthZoo(3, 4)
	hs, err := WeightHistograms(z, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 2 || hs[0].Title.Text != "fc1.weight [4×3]" || hs[1].Title.Text != "fc2.weight [2×4]" {
		t.Errorf("got %d plots, first title %q", len(hs), hs[0].Title.Text)
	}
	hs, err = WeightHistograms(z, []int{0, 1, 3}, WithBiases(true), WithBins(10))
	if err != nil || len(hs) != 4 {
		t.Fatalf("with biases: %d plots, err %v; want 4", len(hs), err)
	}
	// Constant segment (zero biases at init) still renders.
	for r := 0; r < z.Runs; r++ {
		clear(z.At(r, 0)[12:16])
	}
	hs, err = WeightHistograms(z, []int{0}, WithBiases(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RenderGrid(2, 4*vg.Inch, 3*vg.Inch, "png", hs...); err != nil {
		t.Fatal(err)
	}
	z.Meta.Layout.Segments = nil
	hs, err = WeightHistograms(z, nil)
	if err != nil || len(hs) != 1 {
		t.Fatalf("no layout: %d plots, err %v; want 1", len(hs), err)
	}
}

func TestSaveAtomic(t *testing.T) {
	dir := t.TempDir()
	figs := allFigures(t)
	path := filepath.Join(dir, "pca.png")
	if err := Save(figs["pca"], DefaultWidth, DefaultHeight, path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mustPNG(t, b, 720, 504)
	if err := Save(figs["pca"], DefaultWidth, DefaultHeight, filepath.Join(dir, "pca.svg")); err != nil {
		t.Fatal(err)
	}
	if err := SaveGrid(filepath.Join(dir, "grid.png"), 2, DefaultWidth, DefaultHeight, figs["pca"], figs["hist"]); err != nil {
		t.Fatal(err)
	}
	if err := Save(figs["pca"], DefaultWidth, DefaultHeight, filepath.Join(dir, "pca.bmp")); err == nil {
		t.Error("bmp accepted")
	}
	if err := Save(figs["pca"], DefaultWidth, DefaultHeight, filepath.Join(dir, "missing", "x.png")); err == nil {
		t.Error("save into a missing folder succeeded")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "grid.png,pca.png,pca.svg" {
		t.Errorf("folder holds %v; temporary files left behind?", names)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, err %v; want 0644", fi.Mode().Perm(), err)
	}
}

// TestWriteSamples saves the sample figures (to $NMFLOW_PLOT_OUT when set, for looking at them).
func TestWriteSamples(t *testing.T) {
	out := os.Getenv("NMFLOW_PLOT_OUT") // set it to keep the figures and look at them
	if out == "" {
		out = t.TempDir()
	}
	z, _, _ := synthZoo(5, 6)
	curves, err := TrainingCurvesGrid(z)
	if err != nil {
		t.Fatal(err)
	}
	if err := SaveGrid(filepath.Join(out, "curves.png"), 3, 4.5*vg.Inch, 3.2*vg.Inch, curves...); err != nil {
		t.Fatal(err)
	}
	if err := Save(curves[2], DefaultWidth, DefaultHeight, filepath.Join(out, "accuracy.png")); err != nil {
		t.Fatal(err)
	}
	p, pca, err := PCATrajectories(z)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AddPoints(p, pca, Rows(z.Checkpoint(4), z.Params), "samples (k=4 stand-in)"); err != nil {
		t.Fatal(err)
	}
	if err := Save(p, DefaultWidth, DefaultHeight, filepath.Join(out, "pca.png")); err != nil {
		t.Fatal(err)
	}
	hs, err := WeightHistograms(z, nil, WithBiases(true))
	if err != nil {
		t.Fatal(err)
	}
	if err := SaveGrid(filepath.Join(out, "hist.png"), 2, 4.5*vg.Inch, 3.2*vg.Inch, hs...); err != nil {
		t.Fatal(err)
	}

	zr := realisticZoo(20, 11)
	curves, err = TrainingCurvesGrid(zr)
	if err != nil {
		t.Fatal(err)
	}
	if err := SaveGrid(filepath.Join(out, "realistic_curves.png"), 3, 4.5*vg.Inch, 3.2*vg.Inch, curves...); err != nil {
		t.Fatal(err)
	}
	p, _, err = PCATrajectories(zr)
	if err != nil {
		t.Fatal(err)
	}
	if err := Save(p, DefaultWidth, DefaultHeight, filepath.Join(out, "realistic_pca.png")); err != nil {
		t.Fatal(err)
	}
	hs, err = WeightHistograms(zr, []int{0, 5, 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := SaveGrid(filepath.Join(out, "realistic_hist.png"), 2, 4.5*vg.Inch, 3.2*vg.Inch, hs...); err != nil {
		t.Fatal(err)
	}
}
