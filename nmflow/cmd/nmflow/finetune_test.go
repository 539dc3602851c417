package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/adjoint"
	"github.com/nmflow/nmflow/nmflow/traj"
	"github.com/nmflow/nmflow/nmflow/vae"
)

func TestFinetuneCommand(t *testing.T) {
	dir := pipeline(t)
	out := filepath.Join(t.TempDir(), "tuned")
	args := []string{"finetune", "--model", filepath.Join(dir, "model"), "--dataset", "mnist", "--split", "test", "--reward-batch", "32",
		"--lambda", "5", "--steps", "4", "--times", "2", "--batch", "4", "--iters", "3", "--lr", "1e-3", "--seed", "2", "--out", out, "--json"}
	code, stdout, errs := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var s struct {
		Iters       int      `json:"iters"`
		Reward      string   `json:"reward"`
		RewardFirst *float64 `json:"reward_first"`
		AccLast     *float64 `json:"accuracy_last"`
		Exact       bool     `json:"exact"`
		Spread      float64  `json:"reward_spread"`
		Applied     float64  `json:"lambda_applied"`
	}
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, stdout)
	}
	if s.Iters != 3 || s.Reward != "ce:mnist" || s.RewardFirst == nil || *s.RewardFirst >= 0 || s.AccLast == nil || *s.AccLast < 0 || *s.AccLast > 1 {
		t.Errorf("summary %s", stdout)
	}
	// The reward is standardized by default: λ applies to r/spread, and the record keeps the spread.
	rec, err := adjoint.ReadResult(out)
	if err != nil {
		t.Fatal(err)
	}
	if !(s.Spread > 0) || math.Abs(s.Applied*s.Spread-5) > 1e-9 || !rec.Config.Standardize || rec.RewardSpread != s.Spread {
		t.Errorf("standardization: spread %v, λ applied %v, record %+v", s.Spread, s.Applied, rec)
	}
	// The shared pipeline's model uses the Kaiming source: the run must say it is approximate.
	if s.Exact || !strings.Contains(errs, "approximates") {
		t.Errorf("exact=%v; stderr: %s", s.Exact, errs)
	}
	code, _, errs = runCLI(t, "sample", "--model", out, "--n", "3", "--steps", "4", "--out", filepath.Join(t.TempDir(), "gen.safetensors"))
	if code != 0 {
		t.Fatalf("sampling the fine-tuned model: exit %d: %s", code, errs)
	}
	// Rerunning a finished run does nothing and reports the same.
	if code, again, errs := runCLI(t, args...); code != 0 || !strings.Contains(again, `"iters": 3`) {
		t.Errorf("rerun: exit %d, %s %s", code, again, errs)
	}
}

func TestFinetuneErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--model", "m"}, "--out"},
		{[]string{"--model", "m", "--out", "m"}, "same path as the input --model"},
		{[]string{"--out", "o", "--reward", "acc"}, "unknown --reward"},
		{[]string{"--out", "o", "--dataset", "imagenet"}, "unknown --dataset"},
		{[]string{"--out", "o", "--lambda", "-1"}, "--lambda"},
		{[]string{"--out", "o", "--steps", "4", "--times", "4"}, "--times"},
		{[]string{"--out", "o", "--clip", "0"}, "--clip 0"},
		{[]string{"--out", "o", "--loss-quantile", "0"}, "--loss-quantile"},
		{[]string{"--out", "o", "--split", "val"}, "--split"},
		{[]string{"--out", "o", "--weight", "uniform"}, "--weight"},
		{[]string{"--out", "o", "--lr-cut", "1"}, "--lr-cut must be in (0,1)"},
		{[]string{"--out", "o", "--lr-cut", "0.5", "--max-lr-cuts", "0"}, "--max-lr-cuts must be ≥ 1"},
		{[]string{"--out", "o", "--model", filepath.Join(t.TempDir(), "none")}, "model.json"},
	} {
		code, _, errs := runCLI(t, append([]string{"finetune"}, tc.args...)...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want an error mentioning %q", tc.args, code, errs, tc.want)
		}
	}
}

// TestFinetuneLRCut: a learning rate of 1e30 makes Adam's first step move every weight by 1e30,
// so iteration 1 diverges: the run stops with an error naming it and --lr-cut; the same command
// with --lr-cut (not refused as other settings) goes back to the start with the learning rate
// cut to 1e-3, finishes and reports the cut (without the cosine decay, so that iteration 1 runs at 1e30).
func TestFinetuneLRCut(t *testing.T) {
	dir := pipeline(t)
	out := filepath.Join(t.TempDir(), "tuned")
	args := []string{"finetune", "--model", filepath.Join(dir, "model"), "--dataset", "mnist", "--split", "test", "--reward-batch", "32",
		"--lambda", "5", "--steps", "4", "--times", "2", "--batch", "4", "--iters", "3", "--lr", "1e30", "--decay=false", "--seed", "2", "--out", out, "--json"}
	code, _, errs := runCLI(t, args...)
	if code == 0 || !strings.Contains(errs, "at iteration 1 (learning rate 1e+30)") || !strings.Contains(errs, "--lr-cut") {
		t.Fatalf("diverging fine-tuning: exit %d, stderr %q", code, errs)
	}
	code, stdout, errs := runCLI(t, append(args, "--lr-cut", "1e-33")...)
	if code != 0 {
		t.Fatalf("with --lr-cut: exit %d: %s", code, errs)
	}
	var s struct {
		Iters  int `json:"iters"`
		LRCuts []struct {
			Step     int     `json:"step"`
			Scale    float64 `json:"scale"`
			Diverged int     `json:"diverged_at"`
		} `json:"lr_cuts"`
	}
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, stdout)
	}
	if s.Iters != 3 || len(s.LRCuts) != 1 || s.LRCuts[0].Step != 0 || s.LRCuts[0].Diverged != 1 || s.LRCuts[0].Scale != 1e-33 {
		t.Errorf("summary %s, want 3 iterations and one cut from iteration 0", stdout)
	}
}

// A latent meta-model (fit --latent vae) is fine-tuned through its VAE's decoder: the reward
// reads decoded MNIST nets (a cross-entropy of a few nats, accuracy in [0,1]), the output folder
// gets the VAE, and 'nmflow sample' on it decodes to base-net weights.
func TestFinetuneLatentCommand(t *testing.T) {
	dir := pipeline(t)
	latent := filepath.Join(t.TempDir(), "latent")
	fit := append(withZoo(fitArgs, filepath.Join(dir, "zoo.safetensors")), "--steps", "5", "--latent", "vae", "--latent-dim", "4",
		"--vae-steps", "5", "--vae-width", "16", "--vae-batch", "8", "--vae-test-size", "100", "--out", latent)
	if code, _, errs := runCLI(t, fit...); code != 0 {
		t.Fatalf("fit --latent vae: exit %d: %s", code, errs)
	}
	out := filepath.Join(t.TempDir(), "tuned")
	args := []string{"finetune", "--model", latent, "--dataset", "mnist", "--split", "test", "--reward-batch", "32",
		"--lambda", "1", "--steps", "4", "--times", "2", "--batch", "4", "--iters", "2", "--seed", "2", "--out", out, "--json"}
	code, stdout, errs := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("finetune of a latent model: exit %d: %s", code, errs)
	}
	var s struct {
		Iters       int      `json:"iters"`
		Latent      string   `json:"latent"`
		RewardFirst *float64 `json:"reward_first"`
		AccLast     *float64 `json:"accuracy_last"`
	}
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, stdout)
	}
	if s.Iters != 2 || s.Latent != "vae" || s.RewardFirst == nil || !(*s.RewardFirst < 0 && *s.RewardFirst > -50) || s.AccLast == nil || *s.AccLast < 0 || *s.AccLast > 1 {
		t.Errorf("summary %s", stdout)
	}
	if !strings.Contains(errs, "VAE decodes") || !vae.IsLatent(out) {
		t.Errorf("the output folder is not a latent meta-model (vae/ there: %v); stderr: %s", vae.IsLatent(out), errs)
	}
	gen := filepath.Join(t.TempDir(), "gen.safetensors")
	if code, _, errs := runCLI(t, "sample", "--model", out, "--n", "3", "--steps", "4", "--out", gen); code != 0 {
		t.Fatalf("sampling the fine-tuned latent model: exit %d: %s", code, errs)
	}
	g, err := traj.ReadGenerated(gen)
	if err != nil {
		t.Fatal(err)
	}
	if p := 784*8 + 8 + 8*10 + 10; g.N != 3 || g.P != p || g.Meta.Extra["latent"] != "vae" {
		t.Errorf("sampled %d nets × %d params (latent %q), want 3 decoded nets × %d", g.N, g.P, g.Meta.Extra["latent"], p)
	}
	// The finished run, rerun, keeps its VAE and reports the same.
	if code, again, errs := runCLI(t, args...); code != 0 || !strings.Contains(again, `"iters": 2`) {
		t.Errorf("rerun: exit %d, %s %s", code, again, errs)
	}
}
