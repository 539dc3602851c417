package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"os/signal"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/flow"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// The tiny pipeline shared by the tests below: a 4-run MLP zoo, a 30-step meta-model, 6 samples.
var (
	pipeOnce sync.Once
	pipeDir  string
	pipeErr  string
)

// fitArgs are the fit flags of the shared pipeline (without --out).
var fitArgs = []string{"fit", "--zoo", "", "--steps", "30", "--width", "32", "--depth", "1", "--batch", "16", "--checkpoint-every", "10"}

func withZoo(args []string, zoo string) []string {
	out := append([]string(nil), args...)
	for i := range out {
		if out[i] == "--zoo" {
			out[i+1] = zoo
		}
	}
	return out
}

func TestMain(m *testing.M) {
	os.Setenv("NMFLOW_PROGRESS", "0")
	code := m.Run()
	if pipeDir != "" {
		os.RemoveAll(pipeDir)
	}
	os.Exit(code)
}

// pipeline trains the shared zoo, fits and samples once; it returns the folder holding
// zoo.safetensors, model/ and gen.safetensors.
func pipeline(t *testing.T) string {
	t.Helper()
	pipeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nmflow-cli-test-")
		if err != nil {
			pipeErr = err.Error()
			return
		}
		pipeDir = dir
		steps := [][]string{
			{"zoo", "--dataset", "mnist", "--arch", "mlp", "--runs", "4", "--hidden", "8", "--train-size", "1024", "--test-size", "300",
				"--epochs", "3", "--batch", "64", "--checkpoints", "2", "--lr", "0.1", "--momentum", "0.9", "--seed", "1",
				"--out", filepath.Join(dir, "zoo.safetensors")},
			append(withZoo(fitArgs, filepath.Join(dir, "zoo.safetensors")), "--out", filepath.Join(dir, "model"), "--json"),
			{"sample", "--model", filepath.Join(dir, "model"), "--n", "6", "--solver", "rk4", "--steps", "10", "--seed", "3",
				"--out", filepath.Join(dir, "gen.safetensors"), "--json"},
		}
		for _, args := range steps {
			code, out, errs := runCLI(t, args...)
			if code != 0 {
				pipeErr = args[0] + ": " + errs
				return
			}
			if err := os.WriteFile(filepath.Join(dir, args[0]+".out"), []byte(out), 0o644); err != nil {
				pipeErr = err.Error()
				return
			}
		}
	})
	if pipeErr != "" {
		t.Fatalf("pipeline failed: %s", pipeErr)
	}
	return pipeDir
}

func readJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s is not JSON: %v\n%s", path, err, b)
	}
}

func TestFitAndSampleSummaries(t *testing.T) {
	dir := pipeline(t)
	var fit struct {
		Steps          int      `json:"steps"`
		FinalLoss      *float64 `json:"final_loss"`
		StepsPerSecond float64  `json:"steps_per_second"`
		VelocityParams int      `json:"velocity_params"`
		Out            string   `json:"out"`
		Coupling       string   `json:"coupling"`
	}
	readJSONFile(t, filepath.Join(dir, "fit.out"), &fit)
	// in: (P+64)·32+32, block: LN 64 + a 1056 + time 2080 + b 1056, out LN 64, out: 32·P+P.
	p := 784*8 + 8 + 8*10 + 10
	wantVel := (p+64)*32 + 32 + 64 + 1056 + 2080 + 1056 + 64 + 32*p + p
	if fit.Steps != 30 || fit.FinalLoss == nil || !(*fit.FinalLoss > 0) || fit.StepsPerSecond <= 0 || fit.Coupling != "independent" ||
		fit.Out != filepath.Join(dir, "model") {
		t.Errorf("fit summary %+v", fit)
	}
	if fit.VelocityParams != wantVel {
		t.Logf("velocity_params %d, want %d for the documented net (did the net change?)", fit.VelocityParams, wantVel)
		if fit.VelocityParams <= 0 {
			t.Errorf("velocity_params %d", fit.VelocityParams)
		}
	}
	var sample struct {
		N, Params, Steps, NFE int
		Solver                string  `json:"solver"`
		NetsPerSecond         float64 `json:"nets_per_second"`
	}
	readJSONFile(t, filepath.Join(dir, "sample.out"), &sample)
	if sample.N != 6 || sample.Params != p || sample.Steps != 10 || sample.NFE != 9*4+1 || // 9 RK4 steps, then the endpoint's Euler step
		sample.Solver != "rk4" || sample.NetsPerSecond <= 0 {
		t.Errorf("sample summary %+v", sample)
	}
	g, err := traj.ReadGenerated(filepath.Join(dir, "gen.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if g.N != 6 || g.P != p || g.Meta.Extra["solver"] != "rk4" || g.Meta.Extra["model_dir"] != filepath.Join(dir, "model") || g.Meta.Seed != 3 {
		t.Errorf("generated file: N=%d P=%d meta %+v", g.N, g.P, g.Meta)
	}
}

func TestEvalJSON(t *testing.T) {
	dir := pipeline(t)
	code, out, errs := runCLI(t, "eval", "--zoo", filepath.Join(dir, "zoo.safetensors"), "--generated", filepath.Join(dir, "gen.safetensors"),
		"--json", "--test-size", "300", "--per-net")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	type stat struct{ Mean, Median, Max, Min float64 }
	type set struct {
		N        int
		Accuracy *stat
		Loss     *stat
	}
	var r struct {
		Generated, Reference, Init *set
		W1                         *float64 `json:"w1"`
		W1x100                     *float64 `json:"w1_x100"`
		W1N                        int      `json:"w1_n"`
		W1Space                    string   `json:"w1_space"`
		Ratio                      *float64 `json:"ratio_generated_to_reference_mean_accuracy"`
		TestExamples               int      `json:"test_examples"`
		Novelty                    *struct {
			GenToTrain   *stat    `json:"gen_to_train"`
			TrainToTrain *stat    `json:"train_to_train"`
			MedianRatio  *float64 `json:"median_ratio"`
			Memorized    *float64 `json:"memorized_fraction"`
		}
		Noise []struct {
			Level    float64 `json:"level"`
			Sigma    float64 `json:"sigma"`
			Energy   *float64
			Accuracy *stat
		} `json:"noise"`
		Mean *struct {
			N              int
			Energy, W1     *float64
			AccuracyStderr *float64 `json:"accuracy_stderr"`
		}
		Rows []struct {
			Name string
		}
		PerNet struct {
			Accuracy []float64 `json:"accuracy"`
		} `json:"per_net"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	if r.Generated == nil || r.Reference == nil || r.Init == nil || r.W1 == nil || r.W1x100 == nil || r.Ratio == nil || r.Novelty == nil ||
		r.Novelty.GenToTrain == nil || r.Novelty.TrainToTrain == nil || r.Novelty.MedianRatio == nil || r.Novelty.Memorized == nil ||
		len(r.Noise) != 5 || r.Mean == nil || r.Mean.Energy == nil || r.Mean.W1 == nil || r.Mean.AccuracyStderr == nil || len(r.Rows) != 9 {
		t.Fatalf("missing keys in\n%s", out)
	}
	for name, s := range map[string]*set{"generated": r.Generated, "reference": r.Reference, "init": r.Init} {
		a := s.Accuracy
		if a == nil || s.Loss == nil {
			t.Fatalf("%s: no accuracy/loss in\n%s", name, out)
		}
		for _, v := range []float64{a.Mean, a.Median, a.Min, a.Max} {
			if v < 0 || v > 1 {
				t.Errorf("%s accuracy %+v outside [0,1]", name, *a)
			}
		}
		if a.Min > a.Median || a.Median > a.Max || !(s.Loss.Mean > 0) {
			t.Errorf("%s summaries %+v %+v", name, *a, *s.Loss)
		}
	}
	if r.Generated.N != 6 || r.Reference.N != 4 || r.Init.N != 4 || r.TestExamples != 300 {
		t.Errorf("sizes: generated %d reference %d init %d, %d test examples", r.Generated.N, r.Reference.N, r.Init.N, r.TestExamples)
	}
	if r.Init.Accuracy.Mean >= 0.3 || r.Reference.Accuracy.Mean <= 0.5 {
		t.Errorf("init accuracy %.3f, reference %.3f", r.Init.Accuracy.Mean, r.Reference.Accuracy.Mean)
	}
	if *r.W1 < 0 || math.Abs(*r.W1x100-100**r.W1) > 1e-9*math.Max(1, *r.W1x100) || r.W1N != 4 || r.W1Space != "aligned" {
		t.Errorf("w1 %v, w1_x100 %v, w1_n %d, space %q", *r.W1, *r.W1x100, r.W1N, r.W1Space)
	}
	if want := r.Generated.Accuracy.Mean / r.Reference.Accuracy.Mean; math.Abs(*r.Ratio-want) > 1e-12 {
		t.Errorf("ratio %v, want %v", *r.Ratio, want)
	}
	if m := *r.Novelty.Memorized; m < 0 || m > 1 || *r.Novelty.MedianRatio < 0 || r.Novelty.TrainToTrain.Median <= 0 {
		t.Errorf("novelty %+v", *r.Novelty)
	}
	for i, n := range r.Noise {
		if !(n.Sigma > 0) || n.Energy == nil || n.Accuracy == nil || (i > 0 && !(n.Level > r.Noise[i-1].Level)) {
			t.Errorf("noise row %d: %+v", i, n)
		}
	}
	if r.Mean.N != 4 || *r.Mean.AccuracyStderr != 0 || !(*r.Mean.Energy > 0) {
		t.Errorf("mean row %+v", *r.Mean)
	}
	// Re-evaluated zoo nets agree with the metrics the zoo recorded on the same 300 examples.
	z, err := traj.ReadZoo(filepath.Join(dir, "zoo.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if want := storedMeanAcc(z, z.Checkpoints-1); math.Abs(r.Reference.Accuracy.Mean-want) > 1e-6 {
		t.Errorf("reference accuracy %v, the zoo recorded %v", r.Reference.Accuracy.Mean, want)
	}
	if want := storedMeanAcc(z, 0); math.Abs(r.Init.Accuracy.Mean-want) > 1e-6 {
		t.Errorf("init accuracy %v, the zoo recorded %v", r.Init.Accuracy.Mean, want)
	}
	if len(r.PerNet.Accuracy) != 6 {
		t.Errorf("per_net accuracy %v", r.PerNet.Accuracy)
	}

	// The human table reports the same sets.
	code, out, errs = runCLI(t, "eval", "--zoo", filepath.Join(dir, "zoo.safetensors"), "--generated", filepath.Join(dir, "gen.safetensors"), "--test-size", "300")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"generated", "reference (ckpt 2)", "init (ckpt 0)", "noise ×0.1 (σ=", "mean", "energy", "aligned (weight matching to run 0's net)", "novelty vs the 4 zoo runs"} {
		if !strings.Contains(out, want) {
			t.Errorf("human output lacks %q:\n%s", want, out)
		}
	}
}

// A finished fit rerun with the same command does no work and leaves the history unchanged.
func TestFitRerunIsComplete(t *testing.T) {
	dir := pipeline(t)
	var before flow.Model
	readJSONFile(t, filepath.Join(dir, "model", "model.json"), &before)
	args := append(withZoo(fitArgs, filepath.Join(dir, "zoo.safetensors")), "--out", filepath.Join(dir, "model"))
	start := time.Now()
	code, out, errs := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "already complete") || !strings.Contains(errs, "already holds a finished fit") {
		t.Errorf("rerun output: %q / %q", out, errs)
	}
	var after flow.Model
	readJSONFile(t, filepath.Join(dir, "model", "model.json"), &after)
	if !reflect.DeepEqual(before.History, after.History) || after.Steps != 30 || len(after.History) != 30 {
		t.Errorf("history changed: %v → %v", before.History, after.History)
	}
	t.Logf("rerun took %v", time.Since(start))

	// Other settings in the same folder are refused rather than mixed.
	args = append(withZoo(fitArgs, filepath.Join(dir, "zoo.safetensors")), "--out", filepath.Join(dir, "model"), "--lr", "0.01")
	if code, _, errs := runCLI(t, args...); code == 0 || !strings.Contains(errs, "different configuration") {
		t.Errorf("fit with another --lr in the same folder: exit %d, %q", code, errs)
	}
}

// stoppedFit leaves in a new folder the fit fitArgs describe, stopped after step stopAfter (as
// by Ctrl-C), and returns the folder.
func stoppedFit(t *testing.T, zooPath string, stopAfter int) string {
	t.Helper()
	z, err := traj.ReadZoo(zooPath)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "model")
	// What fitArgs asks the CLI for, the rest left to the library's defaults (as the CLI does).
	cfg := flow.Config{Net: flow.NetConfig{Width: 32, Depth: 1}, Steps: 30, BatchSize: 16}
	if _, err := flow.Fit(context.Background(), z, cfg, flow.Options{Dir: out, CheckpointEvery: 10, StopAfter: stopAfter}); err == nil {
		t.Fatal("StopAfter did not stop the fit")
	}
	return out
}

// A fit stopped part-way (as by Ctrl-C) resumes from its checkpoint and ends as if never stopped.
func TestFitResumesUnfinished(t *testing.T) {
	dir := pipeline(t)
	zooPath := filepath.Join(dir, "zoo.safetensors")
	out := stoppedFit(t, zooPath, 20)
	if code, _, errs := runCLI(t, "sample", "--model", out, "--n", "2"); code == 0 || !strings.Contains(errs, "unfinished fit") {
		t.Errorf("sample from an unfinished fit: exit %d, %q", code, errs)
	}
	code, stdout, errs := runCLI(t, append(withZoo(fitArgs, zooPath), "--out", out)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, "resuming the fit") || !strings.Contains(errs, "at step 20 of 30") || !strings.Contains(stdout, "resumed at step 20") {
		t.Errorf("resume output: %q / %q", stdout, errs)
	}
	var whole, resumed flow.Model
	readJSONFile(t, filepath.Join(dir, "model", "model.json"), &whole)
	readJSONFile(t, filepath.Join(out, "model.json"), &resumed)
	if !reflect.DeepEqual(whole.History, resumed.History) {
		t.Errorf("resumed history differs from the uninterrupted one:\n%v\n%v", whole.History, resumed.History)
	}
}

// Ctrl-C during a fit ends it with a message telling how to resume.
func TestFitInterrupt(t *testing.T) {
	dir := pipeline(t)
	// While this channel is registered, SIGINT never kills the test binary, whoever else listens.
	guard := make(chan os.Signal, 16)
	signal.Notify(guard, os.Interrupt)
	defer signal.Stop(guard)
	out := filepath.Join(t.TempDir(), "model")
	done := make(chan struct{})
	var code int
	var errs string
	go func() {
		defer close(done)
		code, _, errs = runCLI(t, append(withZoo(fitArgs, filepath.Join(dir, "zoo.safetensors")), "--out", out, "--steps", "100000", "--checkpoint-every", "5")...)
	}()
	time.Sleep(500 * time.Millisecond)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(60 * time.Second)
loop:
	for {
		select {
		case <-done:
			break loop
		case <-tick.C:
			_ = syscall.Kill(os.Getpid(), syscall.SIGINT)
		case <-deadline:
			t.Fatal("fit did not stop on SIGINT")
		}
	}
	if code == 0 || !strings.Contains(errs, "interrupted") || !strings.Contains(errs, "rerun the same command to resume") {
		t.Errorf("interrupted fit: exit %d, stderr %q", code, errs)
	}
	t.Logf("stderr: %s", errs)
}

func TestPipelineErrors(t *testing.T) {
	dir := pipeline(t)
	zooPath := filepath.Join(dir, "zoo.safetensors")
	tmp := t.TempDir()

	// Generated nets of another architecture (hidden width 4 instead of 8).
	spec := arch.MLP([]int{1, 28, 28}, 10, 4)
	l := arch.MustNew(spec).Layout()
	w := make([]float32, 2*l.Size())
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range w {
		w[i] = float32(rng.NormFloat64() * 0.01)
	}
	other := filepath.Join(tmp, "other.safetensors")
	if err := traj.WriteGenerated(other, &traj.Generated{Meta: traj.Meta{Arch: spec, Layout: l, Dataset: traj.DatasetMeta{Name: "mnist"}}, N: 2, P: l.Size(), Weights: w}); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(tmp, "missing.safetensors")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"fit", "--zoo", missing, "--out", filepath.Join(tmp, "m1")}, "missing.safetensors"},
		{[]string{"fit", "--zoo", zooPath, "--source", "uniform", "--out", filepath.Join(tmp, "m2")}, "unknown source"},
		{[]string{"fit", "--zoo", zooPath, "--source", "gaussian", "--coupling", "trajectory", "--out", filepath.Join(tmp, "m3")}, "needs the kaiming source"},
		{[]string{"fit", "--zoo", zooPath, "--norm", "batch", "--out", filepath.Join(tmp, "m4")}, "unknown --norm"},
		{[]string{"fit", "--zoo", zooPath, "--steps", "-1"}, "--steps"},
		{[]string{"fit", "--zoo", zooPath, "--ema", "0"}, "--ema 0"},
		{[]string{"sample", "--model", filepath.Join(dir, "model"), "--solver", "leapfrog"}, "unknown --solver \"leapfrog\""},
		{[]string{"sample", "--model", filepath.Join(dir, "model"), "--n", "0"}, "--n must be ≥ 1"},
		{[]string{"sample", "--model", filepath.Join(dir, "model"), "--n", "-3"}, "--n must be ≥ 1"},
		{[]string{"sample", "--model", filepath.Join(dir, "model"), "--n", "x"}, "invalid value"},
		{[]string{"sample", "--model", filepath.Join(tmp, "nomodel"), "--n", "2"}, "nomodel"},
		{[]string{"eval", "--zoo", zooPath, "--generated", other}, "another architecture"},
		{[]string{"eval", "--zoo", missing, "--generated", filepath.Join(dir, "gen.safetensors")}, "missing.safetensors"},
		{[]string{"eval", "--zoo", zooPath, "--generated", missing}, "missing.safetensors"},
		{[]string{"eval", "--zoo", zooPath, "--generated", filepath.Join(dir, "gen.safetensors"), "--independent", filepath.Join(dir, "gen.safetensors")}, "--independent wants a zoo file"},
		{[]string{"eval", "--zoo", zooPath, "--generated", filepath.Join(dir, "gen.safetensors"), "--noise-levels", "0.5,x"}, "not a number"},
		{[]string{"eval", "--zoo", zooPath, "--generated", filepath.Join(dir, "gen.safetensors"), "--noise-levels", "0.5,0.2"}, "increasing"},
		{[]string{"eval", "--zoo", zooPath, "--generated", filepath.Join(dir, "gen.safetensors"), "--ref-run", "9"}, "--ref-run"},
		{[]string{"eval", "--zoo", zooPath, "--generated", filepath.Join(dir, "gen.safetensors"), "--checkpoint", "0"}, "out of range"},
	}
	for _, c := range cases {
		code, _, errs := runCLI(t, c.args...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q (want %q)", c.args, code, errs, c.want)
		}
	}
	for _, cmd := range []string{"fit", "sample", "eval"} {
		if code, _, errs := runCLI(t, cmd, "--help"); code != 0 || !strings.Contains(errs, "-seed") || !strings.Contains(errs, "-json") {
			t.Errorf("%s --help: exit %d, %q", cmd, code, errs)
		}
	}
}

func storedMeanAcc(z *traj.Zoo, k int) float64 {
	var s float64
	for r := 0; r < z.Runs; r++ {
		s += float64(z.Metric(traj.MetricTestAcc, r, k))
	}
	return s / float64(z.Runs)
}

// Evaluating a zoo's own final checkpoints as "generated" nets, with standardized inputs: same
// accuracies as the reference (and as recorded by the zoo), W1 = 0, every net memorized.
func TestEvalStandardizedCopies(t *testing.T) {
	tmp := t.TempDir()
	zooPath := filepath.Join(tmp, "zoo.safetensors")
	code, _, errs := runCLI(t, "zoo", "--runs", "3", "--hidden", "8", "--train-size", "512", "--test-size", "200", "--epochs", "2",
		"--batch", "64", "--checkpoints", "2", "--lr", "0.1", "--momentum", "0.9", "--standardize", "--seed", "2", "--out", zooPath)
	if code != 0 {
		t.Fatalf("zoo: %s", errs)
	}
	z, err := traj.ReadZoo(zooPath)
	if err != nil {
		t.Fatal(err)
	}
	genPath := filepath.Join(tmp, "copies.safetensors")
	g := &traj.Generated{Meta: traj.Meta{Arch: z.Meta.Arch, Layout: z.Meta.Layout, Dataset: z.Meta.Dataset}, N: z.Runs, P: z.Params, Weights: z.Checkpoint(z.Checkpoints - 1)}
	if err := traj.WriteGenerated(genPath, g); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "eval", "--zoo", zooPath, "--generated", genPath, "--test-size", "200", "--json")
	if code != 0 {
		t.Fatalf("eval: %s", errs)
	}
	var r struct {
		Standardize          bool
		Generated, Reference struct{ Accuracy struct{ Mean float64 } }
		W1                   float64
		Novelty              struct {
			Memorized float64 `json:"memorized_fraction"`
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	want := storedMeanAcc(z, z.Checkpoints-1)
	if !r.Standardize || r.Generated.Accuracy.Mean != r.Reference.Accuracy.Mean || math.Abs(r.Reference.Accuracy.Mean-want) > 1e-6 ||
		r.W1 != 0 || r.Novelty.Memorized != 1 {
		t.Errorf("copies: %+v (zoo recorded accuracy %v)", r, want)
	}
}

// Two zoos of one configuration and different seeds: the second, given as the generated side
// (a zoo file: its last checkpoint) and as the independent zoo, scores independent-level
// closeness — energy below the init and mean rows — and beats the noise curve.
func TestEvalIndependentZoo(t *testing.T) {
	tmp := t.TempDir()
	paths := []string{filepath.Join(tmp, "a.safetensors"), filepath.Join(tmp, "b.safetensors")}
	for i, p := range paths {
		code, _, errs := runCLI(t, "zoo", "--runs", "6", "--hidden", "8", "--train-size", "512", "--test-size", "300", "--epochs", "3",
			"--batch", "64", "--checkpoints", "1", "--lr", "0.1", "--momentum", "0.9", "--seed", fmt.Sprint(i+1), "--out", p)
		if code != 0 {
			t.Fatalf("zoo: %s", errs)
		}
	}
	code, out, errs := runCLI(t, "eval", "--zoo", paths[0], "--generated", paths[1], "--independent", paths[1], "--test-size", "300", "--json")
	if code != 0 {
		t.Fatalf("eval: %s", errs)
	}
	type row struct {
		N        int
		Energy   float64
		W1       float64
		Accuracy struct{ Mean float64 }
	}
	var r struct {
		Generated, Independent, Init, Mean row
		Verdict                            map[string]struct {
			NotCopies bool `json:"not_copies"`
			Text      string
		} `json:"noise_verdict"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Generated != r.Independent || r.Generated.N != 6 {
		t.Errorf("the same zoo as generated and independent: %+v and %+v", r.Generated, r.Independent)
	}
	if !(r.Independent.Energy < r.Init.Energy && r.Independent.Energy < r.Mean.Energy) {
		t.Errorf("energy: independent %v, init %v, mean %v", r.Independent.Energy, r.Init.Energy, r.Mean.Energy)
	}
	if v := r.Verdict["generated"]; !v.NotCopies {
		t.Errorf("an independent zoo does not beat the noise curve: %s", v.Text)
	}
	t.Logf("energy independent %.3f init %.3f mean %.3f; W1 %.3f %.3f %.3f", r.Independent.Energy, r.Init.Energy, r.Mean.Energy, r.Independent.W1, r.Init.W1, r.Mean.W1)
}

// The trajectory-aware methods run through the same fit and sample commands.
func TestFitMMFMAndJKO(t *testing.T) {
	dir := pipeline(t)
	zooPath := filepath.Join(dir, "zoo.safetensors")
	for _, c := range []struct {
		method string
		extra  []string
		solver string
		steps  string // solver_steps recorded; "" not checked
	}{
		{"mmfm", []string{"--interp", "cubic", "--noise", "adaptive", "--sigma", "0.1"}, "rk4", ""},
		{"jko", []string{"--jko-tau", "0.5", "--jko-time"}, "jko", "20"}, // 2 intervals × 10 sub-steps
		{"jko", []string{"--jko-separable", "interval", "--jko-substeps", "3"}, "jko", "6"},
	} {
		out := filepath.Join(t.TempDir(), c.method)
		args := append(withZoo(fitArgs, zooPath), "--steps", "10", "--method", c.method, "--out", out, "--json")
		code, stdout, stderr := runCLI(t, append(args, c.extra...)...)
		if code != 0 {
			t.Fatalf("fit --method %s: %s", c.method, stderr)
		}
		var fit struct {
			Method  string `json:"method"`
			Anchors []int  `json:"anchor_checkpoints"`
		}
		if err := json.Unmarshal([]byte(stdout), &fit); err != nil {
			t.Fatal(err)
		}
		if fit.Method != c.method || !reflect.DeepEqual(fit.Anchors, []int{0, 1, 2}) {
			t.Errorf("fit %s summary: %+v", c.method, fit)
		}
		gen := filepath.Join(t.TempDir(), "gen.safetensors")
		code, _, stderr = runCLI(t, "sample", "--model", out, "--n", "3", "--solver", "rk4", "--steps", "4", "--out", gen)
		if code != 0 {
			t.Fatalf("sample %s: %s", c.method, stderr)
		}
		g, err := traj.ReadGenerated(gen)
		if err != nil {
			t.Fatal(err)
		}
		if g.N != 3 || g.Meta.Extra["solver"] != c.solver || g.Meta.Extra["generator"] != "nmflow "+c.method ||
			(c.steps != "" && g.Meta.Extra["solver_steps"] != c.steps) {
			t.Errorf("%s %v generated: N=%d meta %+v", c.method, c.extra, g.N, g.Meta.Extra)
		}
	}
	code, _, stderr := runCLI(t, append(withZoo(fitArgs, zooPath), "--method", "jko", "--predict", "target", "--out", filepath.Join(t.TempDir(), "x"))...)
	if code == 0 || !strings.Contains(stderr, "takes no --predict target") {
		t.Errorf("jko with target prediction: code %d, %s", code, stderr)
	}
}
