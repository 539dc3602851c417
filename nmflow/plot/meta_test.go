package plot

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/nmflow/nmflow/nmflow/traj"
)

// lossHistory is a plausible CFM loss curve: a fast drop to a noisy plateau.
func lossHistory(n int) []float32 {
	rng := rand.New(rand.NewPCG(4, 4))
	h := make([]float32, n)
	for i := range h {
		t := float64(i) / float64(n)
		h[i] = float32((0.6 + 1.4*math.Exp(-12*t)) * (1 + 0.25*rng.NormFloat64()))
	}
	return h
}

// genPaths fakes a sampling path of n generated nets with T snapshots: each net runs from a fresh
// init (like the zoo's: the first checkpoint's law) towards a point near the zoo's finals, on a
// slightly curved line, so the figure has the shape a trajectory-coupled CFM gives.
func genPaths(z *traj.Zoo, n, T int) [][]float32 {
	rng := rand.New(rand.NewPCG(8, 8))
	p, K := z.Params, z.Checkpoints-1
	out := make([][]float32, T)
	for k := range out {
		out[k] = make([]float32, n*p)
	}
	for i := 0; i < n; i++ {
		a, b := rng.IntN(z.Runs), rng.IntN(z.Runs)
		init0, init1 := z.At(a, 0), z.At(b, 0)
		fin0, fin1 := z.At(a, K), z.At(b, K)
		mix := rng.Float64()
		for k := 0; k < T; k++ {
			t := float64(k) / float64(T-1)
			s := 1 - (1-t)*(1-t) // fast first, like gradient descent
			for j := 0; j < p; j++ {
				x0 := mix*float64(init0[j]) + (1-mix)*float64(init1[j])
				x1 := mix*float64(fin0[j]) + (1-mix)*float64(fin1[j])
				out[k][i*p+j] = float32((1-s)*x0 + s*x1 + 0.002*rng.NormFloat64())
			}
		}
	}
	return out
}

// metaFigures builds each meta-model figure from synthetic inputs.
func metaFigures(t *testing.T) map[string]*gplot.Plot {
	t.Helper()
	figs := map[string]*gplot.Plot{}
	var err error
	if figs["loss"], err = LossHistory(lossHistory(800)); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 5))
	groups := []Named{{Name: "init"}, {Name: "trained (zoo final)"}, {Name: "generated"}}
	for i := 0; i < 60; i++ {
		groups[0].Values = append(groups[0].Values, float32(0.1+0.03*rng.NormFloat64()))
		groups[1].Values = append(groups[1].Values, float32(0.91+0.01*rng.NormFloat64()))
		groups[2].Values = append(groups[2].Values, float32(0.89+0.02*rng.NormFloat64()))
	}
	if figs["acc"], err = AccuracyHistograms(groups); err != nil {
		t.Fatal(err)
	}
	z, _, _ := synthZoo(5, 6)
	if figs["pca"], _, err = PCAWithGenerated(z, genPaths(z, 8, 11), 0); err != nil {
		t.Fatal(err)
	}
	times := make([]float64, 21)
	mean, std := make([]float64, 21), make([]float64, 21)
	for k := range times {
		times[k] = float64(k) / 20
		mean[k] = 2.3*math.Exp(-4*times[k]) + 0.15
		std[k] = 0.05 + 0.2*times[k]*(1-times[k])
	}
	if figs["pathloss"], err = PathLossCurve(times, mean, std, 0.14); err != nil {
		t.Fatal(err)
	}
	return figs
}

func TestMetaFiguresRender(t *testing.T) {
	figs := metaFigures(t)
	for name, p := range figs {
		b, err := Render(p, DefaultWidth, DefaultHeight, "png")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		mustPNG(t, b, 720, 504)
		b, err = RenderDPI(p, 4*vg.Inch, 3*vg.Inch, "png", 50)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		mustPNG(t, b, 200, 150)
		s, err := Render(p, DefaultWidth, DefaultHeight, "svg")
		if err != nil || !bytes.Contains(s[:min(len(s), 200)], []byte("<svg")) {
			t.Errorf("%s: svg err %v", name, err)
		}
	}
	// Deterministic: rebuilding and re-rendering give the same bytes.
	again := metaFigures(t)
	for name := range figs {
		a, _ := Render(figs[name], DefaultWidth, DefaultHeight, "png")
		b, _ := Render(again[name], DefaultWidth, DefaultHeight, "png")
		c, _ := Render(figs[name], DefaultWidth, DefaultHeight, "png")
		if !bytes.Equal(a, b) || !bytes.Equal(a, c) {
			t.Errorf("%s: rendering is not deterministic", name)
		}
	}
	if _, err := RenderGrid(2, 4.5*vg.Inch, 3.2*vg.Inch, "png", figs["loss"], figs["acc"], figs["pca"], figs["pathloss"]); err != nil {
		t.Fatal(err)
	}
	if _, ok := figs["loss"].Y.Scale.(gplot.LogScale); !ok {
		t.Error("loss history of positive losses is not on a log axis")
	}
}

func TestLossHistoryCases(t *testing.T) {
	// Few steps: no moving average; one step: a marker; NaNs skipped; signed values: linear axis.
	for _, h := range [][]float32{{1.5}, {2, 1, 0.5}, {1, float32(math.NaN()), 0.5, float32(math.Inf(1)), 0.4}, {0.5, -0.1, 0.2}} {
		p, err := LossHistory(h)
		if err != nil {
			t.Fatalf("%v: %v", h, err)
		}
		if _, err := Render(p, DefaultWidth, DefaultHeight, "png"); err != nil {
			t.Fatalf("%v: %v", h, err)
		}
	}
	p, _ := LossHistory([]float32{0.5, -0.1, 0.2}, WithTitle("custom"))
	if _, log := p.Y.Scale.(gplot.LogScale); log || p.Title.Text != "custom" {
		t.Errorf("signed losses: log axis %v, title %q", log, p.Title.Text)
	}
	if _, err := LossHistory([]float32{0.5, -0.1}, WithLogY()); err == nil {
		t.Error("log axis with a negative loss accepted")
	}
	for _, h := range [][]float32{nil, {float32(math.NaN())}} {
		if _, err := LossHistory(h); err == nil {
			t.Errorf("%v: no error", h)
		}
	}
	avg := movingAverage(plotter.XYs{{X: 1, Y: 1}, {X: 2, Y: 3}, {X: 3, Y: 5}, {X: 4, Y: 7}}, 2)
	if avg[0].Y != 1 || avg[1].Y != 2 || avg[2].Y != 4 || avg[3].Y != 6 {
		t.Errorf("moving average %v", avg)
	}
}

func TestAccuracyHistogramsCases(t *testing.T) {
	// One group, constant values, explicit bins, values outside [0,1].
	for _, tc := range []struct {
		g    []Named
		opts []Option
	}{
		{[]Named{{"zoo", []float32{0.9}}}, nil},
		{[]Named{{"a", []float32{0.5, 0.5, 0.5}}, {"b", []float32{0.5}}}, nil},
		{[]Named{{"a", []float32{0.1, 0.2, 0.3, 0.9}}, {"b", []float32{0.4, float32(math.NaN())}}}, []Option{WithBins(7)}},
		{[]Named{{"loss", []float32{1.5, 2.5, 3, 2}}}, []Option{WithTitle("")}},
	} {
		p, err := AccuracyHistograms(tc.g, tc.opts...)
		if err != nil {
			t.Fatalf("%v: %v", tc.g, err)
		}
		if p.Y.Min != 0 {
			t.Errorf("%v: y axis starts at %v", tc.g, p.Y.Min)
		}
		if _, err := Render(p, DefaultWidth, DefaultHeight, "png"); err != nil {
			t.Fatal(err)
		}
	}
	for name, g := range map[string][]Named{"none": nil, "empty set": {{"a", []float32{0.5}}, {"b", nil}}, "only NaN": {{"a", []float32{float32(math.NaN())}}}} {
		if _, err := AccuracyHistograms(g); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := AccuracyHistograms([]Named{{"a", []float32{0.5}}}, WithBins(0)); err == nil {
		t.Error("0 bins accepted")
	}
	if s := formatAcc(0.9123); s != "91.2%" {
		t.Errorf("formatAcc %q", s)
	}
}

func TestPCAWithGeneratedCases(t *testing.T) {
	z, _, _ := synthZoo(4, 5)
	paths := genPaths(z, 6, 4)
	p, pca, err := PCAWithGenerated(z, paths, 3, WithColor(SeriesColor(1)), WithTitle("t"))
	if err != nil {
		t.Fatal(err)
	}
	if pca == nil || len(pca.Mean) != z.Params || p.Title.Text != "t" {
		t.Fatalf("pca %v, title %q", pca != nil, p.Title.Text)
	}
	// Every generated point lies inside the axes.
	for _, s := range paths {
		for i := 0; i < 3; i++ {
			x, y := pca.Project(s[i*z.Params : (i+1)*z.Params])
			if x < p.X.Min || x > p.X.Max || y < p.Y.Min || y > p.Y.Max {
				t.Errorf("generated point (%v, %v) outside the axes [%v,%v]×[%v,%v]", x, y, p.X.Min, p.X.Max, p.Y.Min, p.Y.Max)
			}
		}
	}
	// Reusing a projection; a single snapshot (ends only); a one-checkpoint zoo.
	if _, same, err := PCAWithGenerated(z, paths[3:], 0, WithPCA(pca)); err != nil || same != pca {
		t.Errorf("WithPCA: err %v, same projection %v", err, same == pca)
	}
	z1, _, _ := synthZoo(3, 1)
	if p, _, err := PCAWithGenerated(z1, genPaths(z1, 2, 2), 0); err != nil {
		t.Fatal(err)
	} else if _, err := Render(p, DefaultWidth, DefaultHeight, "png"); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string][][]float32{
		"no snapshots":   nil,
		"wrong P":        {make([]float32, z.Params+1)},
		"ragged":         {make([]float32, 2*z.Params), make([]float32, z.Params)},
		"empty snapshot": {{}},
	} {
		if _, _, err := PCAWithGenerated(z, bad, 0); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, _, err := PCAWithGenerated(nil, paths, 0); err == nil {
		t.Error("nil zoo accepted")
	}
}

func TestPathLossCurveCases(t *testing.T) {
	times := []float64{0, 0.5, 1}
	nan := math.NaN()
	p, err := PathLossCurve(times, []float64{2.3, nan, 0.2}, []float64{0.1, 0.2, nan}, nan, WithLogY())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Render(p, DefaultWidth, DefaultHeight, "png"); err != nil {
		t.Fatal(err)
	}
	if p, err := PathLossCurve(times, []float64{2.3, 1, 0.2}, nil, 0.1); err != nil || p.Y.Min > 0.1 {
		t.Errorf("no stds: err %v; the reference line must be inside the axes (y from %v)", err, p.Y.Min)
	}
	for name, tc := range map[string]struct {
		times, mean, std []float64
		ref              float64
		opts             []Option
	}{
		"no times":      {nil, nil, nil, 0, nil},
		"short means":   {times, []float64{1, 2}, nil, 0, nil},
		"short stds":    {times, []float64{1, 2, 3}, []float64{1}, 0, nil},
		"decreasing":    {[]float64{0, 1, 0.5}, []float64{1, 2, 3}, nil, 0, nil},
		"NaN time":      {[]float64{0, nan, 1}, []float64{1, 2, 3}, nil, 0, nil},
		"negative std":  {times, []float64{1, 2, 3}, []float64{0, -1, 0}, 0, nil},
		"all NaN":       {times, []float64{nan, nan, nan}, nil, 0, nil},
		"log, mean ≤ 0": {times, []float64{1, 0, 3}, nil, nan, []Option{WithLogY()}},
		"log, ref ≤ 0":  {times, []float64{1, 2, 3}, nil, 0, []Option{WithLogY()}},
	} {
		if _, err := PathLossCurve(tc.times, tc.mean, tc.std, tc.ref, tc.opts...); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestWriteMetaSamples saves the meta-model figures (to $NMFLOW_PLOT_OUT when set).
func TestWriteMetaSamples(t *testing.T) {
	out := os.Getenv("NMFLOW_PLOT_OUT") // set it to keep the figures and look at them
	if out == "" {
		out = t.TempDir()
	}
	for name, p := range metaFigures(t) {
		if err := Save(p, DefaultWidth, DefaultHeight, filepath.Join(out, "meta_"+name+".png")); err != nil {
			t.Fatal(err)
		}
	}
	zr := realisticZoo(20, 11)
	p, _, err := PCAWithGenerated(zr, genPaths(zr, 12, 21), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := Save(p, DefaultWidth, DefaultHeight, filepath.Join(out, "meta_realistic_pca.png")); err != nil {
		t.Fatal(err)
	}
}
