package flow

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/traj"
)

func TestConfigDefaults(t *testing.T) {
	c, err := Config{}.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Method != "cfm" || c.Source != SourceKaiming || c.Coupling != CouplingIndependent || c.Norm != NormLayer ||
		c.Align != AlignWeights || c.Predict != PredictTarget || c.TimeSkew != DefaultTimeSkew ||
		c.Target != -1 || c.Steps < 1 || c.BatchSize < 1 || !(c.LR > 0) || c.WarmUp > c.Steps || c.EMA >= 1 {
		t.Errorf("defaults: %+v", c)
	}
	if c.Net.Width < 1 || c.Net.Depth < 0 || c.Net.TimeDim < 2 || c.Net.TimeDim%2 != 0 {
		t.Errorf("default net: %+v", c.Net)
	}
	again, err := c.Defaults()
	if err != nil || again != c {
		t.Errorf("Defaults is not idempotent: %+v vs %+v (err %v)", again, c, err)
	}
	j, err := Config{Method: MethodJKO}.Defaults()
	if err != nil || j.Predict != PredictVelocity || j.TimeSkew != 1 {
		t.Errorf("jko defaults: predict %q, time skew %v (err %v); want velocity, 1", j.Predict, j.TimeSkew, err)
	}
	g, err := Config{Source: SourceGaussian}.Defaults()
	if err != nil || g.Coupling != CouplingIndependent {
		t.Errorf("gaussian source defaults to coupling %q (err %v), want independent", g.Coupling, err)
	}
	// The learning-rate schedule warms up linearly to LR and decays by a cosine to MinLR·LR.
	c = Config{Steps: 100, WarmUp: 10, LR: 1, MinLR: 0.1}
	if c.lrAt(0) != 0.1 || c.lrAt(9) != 1 || c.lrAt(10) != 1 || c.lrAt(99) < 0.1 || c.lrAt(99) > 0.11 || !(c.lrAt(50) < c.lrAt(20)) {
		t.Errorf("schedule: %v %v %v %v", c.lrAt(0), c.lrAt(9), c.lrAt(10), c.lrAt(99))
	}
}

// TestConfigErrors: every invalid setting is refused, by Defaults and by Fit, with a reason.
func TestConfigErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg  Config
		want string
	}{
		"method":            {Config{Method: "vae"}, "unknown method"},
		"alignment":         {Config{Align: "sorted"}, "unknown alignment"},
		"mmfm+ot":           {Config{Method: MethodMMFM, Coupling: CouplingOT, Source: SourceGaussian}, "not ot"},
		"intermediates":     {Config{Method: MethodMMFM, Intermediates: -2}, "intermediates"},
		"interpolant":       {Config{Method: MethodMMFM, MMFM: MMFMConfig{Interp: "quintic"}}, "interpolant"},
		"anchor times":      {Config{Method: MethodMMFM, MMFM: MMFMConfig{Times: "log"}}, "anchor times"},
		"noise schedule":    {Config{Method: MethodMMFM, MMFM: MMFMConfig{Noise: "cosine"}}, "noise schedule"},
		"jko+sigma":         {Config{Method: MethodJKO, Sigma: 0.1}, "takes no"},
		"jko tau":           {Config{Method: MethodJKO, JKO: JKOConfig{Tau: -1}}, "tau"},
		"source":            {Config{Source: "uniform"}, "unknown source"},
		"coupling":          {Config{Coupling: "sinkhorn"}, "unknown coupling"},
		"trajectory+gauss":  {Config{Source: SourceGaussian, Coupling: CouplingTrajectory}, "needs the kaiming source"},
		"prediction":        {Config{Predict: "noise"}, "unknown prediction"},
		"negative sigma":    {Config{Sigma: -0.1}, "sigma"},
		"negative steps":    {Config{Steps: -5}, "steps ≥ 1"},
		"negative batch":    {Config{BatchSize: -1}, "batch ≥ 1"},
		"warmup > steps":    {Config{Steps: 10, WarmUp: 11}, "warmup"},
		"negative lr":       {Config{LR: -1e-3}, "lr > 0"},
		"min_lr > 1":        {Config{MinLR: 2}, "min_lr"},
		"negative decay":    {Config{WeightDecay: -1}, "weight_decay"},
		"ema = 1":           {Config{EMA: 1}, "ema"},
		"negative width":    {Config{Net: NetConfig{Width: -3}}, "network size"},
		"negative depth":    {Config{Net: NetConfig{Depth: -1}}, "network size"},
		"odd time dim":      {Config{Net: NetConfig{TimeDim: 7}}, "network size"},
		"negative cond dim": {Config{Net: NetConfig{CondDim: -1}}, "network size"},
	} {
		if _, err := tc.cfg.Defaults(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Defaults err = %v, want one mentioning %q", name, err, tc.want)
		}
		if _, err := Fit(context.Background(), driftZoo(tinyLayout(), 4, 2, 1), tc.cfg, Options{Backend: testBackend(t), Progress: io.Discard}); err == nil {
			t.Errorf("%s: Fit accepted the configuration", name)
		}
	}
}

// TestFitErrors: zoos and targets Fit cannot use.
func TestFitErrors(t *testing.T) {
	opt := Options{Backend: testBackend(t), Progress: io.Discard}
	base := smallConfig()
	for name, tc := range map[string]struct {
		zoo  func() *traj.Zoo
		cfg  func(Config) Config
		want string
	}{
		"target past the end": {func() *traj.Zoo { return driftZoo(tinyLayout(), 4, 3, 1) }, func(c Config) Config { c.Target = 3; return c }, "out of range"},
		"target before start": {func() *traj.Zoo { return driftZoo(tinyLayout(), 4, 3, 1) }, func(c Config) Config { c.Target = -3; return c }, "out of range"},
		"only inits":          {func() *traj.Zoo { return driftZoo(tinyLayout(), 4, 1, 1) }, func(c Config) Config { return c }, "out of range"},
		"bad sizes": {func() *traj.Zoo { z := driftZoo(tinyLayout(), 4, 2, 1); z.Weights = z.Weights[1:]; return z },
			func(c Config) Config { return c }, "weights"},
		"no init law": {func() *traj.Zoo { z := driftZoo(tinyLayout(), 4, 2, 1); z.Meta.Init = ""; return z },
			func(c Config) Config { return c }, "init law"},
		"unknown init law": {func() *traj.Zoo { z := driftZoo(tinyLayout(), 4, 2, 1); z.Meta.Init = "xavier"; return z },
			func(c Config) Config { c.Coupling = CouplingIndependent; return c }, "xavier"},
		"too many intermediates": {func() *traj.Zoo { return driftZoo(tinyLayout(), 4, 3, 1) },
			func(c Config) Config { c.Method, c.Intermediates = MethodMMFM, 2; return c }, "hold only 1"},
		"no layout": {func() *traj.Zoo { z := driftZoo(tinyLayout(), 4, 2, 1); z.Meta.Layout.Segments = nil; return z },
			func(c Config) Config { c.Source = SourceGaussian; c.Coupling = ""; return c }, "layout"},
	} {
		_, err := Fit(context.Background(), tc.zoo(), tc.cfg(base), opt)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", name, err, tc.want)
		}
	}
	// A middle checkpoint is a valid target.
	c := base
	c.Target, c.Steps = 1, 2
	if m, err := Fit(context.Background(), driftZoo(tinyLayout(), 4, 3, 1), c, opt); err != nil || m.TargetCheckpoint != 1 {
		t.Errorf("target 1: err %v", err)
	}
}
