package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/traj"
)

// fit --latent vae → sample → eval on the shared tiny zoo: sample decodes to base-net weights,
// so eval runs unchanged; the fit reports the VAE's reconstruction accuracy.
func TestLatentVAEPipeline(t *testing.T) {
	dir := pipeline(t)
	zoo := filepath.Join(dir, "zoo.safetensors")
	out := filepath.Join(t.TempDir(), "latent")
	fit := append(withZoo(fitArgs, zoo), "--latent", "vae", "--latent-dim", "8", "--vae-steps", "40", "--vae-width", "32",
		"--vae-batch", "8", "--vae-lr", "3e-3", "--vae-test-size", "300", "--out", out, "--json")
	code, stdout, errs := runCLI(t, fit...)
	if code != 0 {
		t.Fatalf("fit exit %d: %s", code, errs)
	}
	var fs struct {
		Source, Coupling, Norm string
		BaseParams             int `json:"base_params"`
		Latent                 struct {
			LatentDim      int `json:"latent_dim"`
			VAESteps       int `json:"vae_steps"`
			Reconstruction struct {
				N                int
				OriginalAccuracy struct{ Mean float64 } `json:"original_accuracy"`
				DecodedAccuracy  struct{ Mean float64 } `json:"decoded_accuracy"`
				MSE              float64                `json:"mse"`
			}
		}
	}
	if err := json.Unmarshal([]byte(stdout), &fs); err != nil {
		t.Fatalf("fit stdout is not JSON: %v\n%s", err, stdout)
	}
	r := fs.Latent.Reconstruction
	if fs.Source != "gaussian" || fs.Coupling != "independent" || fs.Norm != "param" || fs.BaseParams != 8 || fs.Latent.LatentDim != 8 ||
		fs.Latent.VAESteps != 40 || r.N != 4 || !(r.MSE > 0) || !(r.OriginalAccuracy.Mean > 0.5 && r.OriginalAccuracy.Mean <= 1) ||
		r.DecodedAccuracy.Mean < 0 || r.DecodedAccuracy.Mean > 1 {
		t.Errorf("fit summary: %s", stdout)
	}
	if !strings.Contains(errs, "VAE reconstruction of the final nets") {
		t.Errorf("fit stderr lacks the reconstruction line:\n%s", errs)
	}

	gen := filepath.Join(t.TempDir(), "gen.safetensors")
	code, stdout, errs = runCLI(t, "sample", "--model", out, "--n", "5", "--solver", "rk4", "--steps", "5", "--seed", "2", "--out", gen, "--json")
	if code != 0 {
		t.Fatalf("sample exit %d: %s", code, errs)
	}
	p := 784*8 + 8 + 8*10 + 10
	g, err := traj.ReadGenerated(gen)
	if err != nil {
		t.Fatal(err)
	}
	if g.N != 5 || g.P != p || g.Meta.Arch.String() != "mlp 784-8-10" || g.Meta.Extra["latent"] != "vae" || !strings.Contains(stdout, `"latent": "vae"`) {
		t.Errorf("generated N=%d P=%d arch %s extra %v; summary %s", g.N, g.P, g.Meta.Arch, g.Meta.Extra, stdout)
	}
	code, stdout, errs = runCLI(t, "eval", "--zoo", zoo, "--generated", gen, "--json", "--test-size", "300")
	if code != 0 {
		t.Fatalf("eval exit %d: %s", code, errs)
	}
	var ev struct{ Generated struct{ N int } }
	if err := json.Unmarshal([]byte(stdout), &ev); err != nil || ev.Generated.N != 5 {
		t.Errorf("eval of decoded nets: %v\n%s", err, stdout)
	}

	// The same command again reuses the VAE and finds the flow complete; other VAE settings in the
	// same folder are refused.
	code, stdout, errs = runCLI(t, fit...)
	if code != 0 || !strings.Contains(errs, "reusing the VAE") {
		t.Errorf("rerun: exit %d, %q", code, errs)
	}
	other := append(append([]string(nil), fit...), "--latent-dim", "4")
	if code, _, errs := runCLI(t, other...); code == 0 || !strings.Contains(errs, "VAE trained with other settings") {
		t.Errorf("other --latent-dim in the same folder: exit %d, %q", code, errs)
	}
	// A folder holding a flow on the weights is not turned into a latent one.
	weights := append(append([]string(nil), fit...), "--out", filepath.Join(dir, "model"))
	if code, _, errs := runCLI(t, weights...); code == 0 || !strings.Contains(errs, "fitted on the weights, not on VAE latents") {
		t.Errorf("--latent vae into a weight-space model folder: exit %d, %q", code, errs)
	}
}

func TestLatentFlagErrors(t *testing.T) {
	zoo := filepath.Join(t.TempDir(), "none.safetensors") // flags fail before the zoo is read
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--latent", "vae", "--latent-dim", "0"}, "--latent-dim must be ≥ 1"},
		{[]string{"--latent-dim", "8"}, "add --latent vae"},
		{[]string{"--latent", "pca"}, "unknown --latent"},
		{[]string{"--latent", "vae", "--source", "kaiming"}, "starts from N(0,I)"},
		{[]string{"--latent", "vae", "--vae-beta", "-1"}, "--vae-beta must be > 0"},
	} {
		args := append(append(withZoo(fitArgs, zoo), "--out", filepath.Join(t.TempDir(), "m")), c.args...)
		if code, _, errs := runCLI(t, args...); code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %q (want %q)", c.args, code, errs, c.want)
		}
	}
}

// tasks → fit --condition support --latent vae → sample --task: one VAE on both tasks' zoos, the
// conditional flow on their latents; sample decodes, tests on the task and is reproducible.
func TestLatentConditionalPipeline(t *testing.T) {
	dir := t.TempDir()
	tasks := filepath.Join(dir, "tasks")
	code, _, errs := runCLI(t, "tasks", "--tasks", "mnist,mnist+perm:1", "--runs", "2", "--hidden", "4", "--epochs", "1", "--checkpoints", "2",
		"--batch", "32", "--train-size", "256", "--test-size", "100", "--lr", "0.1", "--out", tasks)
	if code != 0 {
		t.Fatalf("tasks exit %d: %s", code, errs)
	}
	model := filepath.Join(dir, "model")
	fit := []string{"fit", "--zoo", tasks, "--condition", "support", "--latent", "vae", "--latent-dim", "4", "--vae-steps", "10",
		"--vae-width", "16", "--vae-batch", "8", "--support-k", "2", "--support-pool", "8", "--cond-dim", "4", "--cond-hidden", "8",
		"--steps", "6", "--batch", "8", "--width", "16", "--depth", "1", "--time-dim", "4", "--seed", "1", "--out", model, "--json"}
	code, stdout, errs := runCLI(t, fit...)
	if code != 0 {
		t.Fatalf("fit exit %d: %s", code, errs)
	}
	type recon struct {
		N               int
		DecodedAccuracy struct{ Mean float64 } `json:"decoded_accuracy"`
	}
	var fs struct {
		Source    string
		Condition struct{ Tasks []string }
		Latent    struct {
			LatentDim int              `json:"latent_dim"`
			PerTask   map[string]recon `json:"task_reconstruction"`
		}
	}
	if err := json.Unmarshal([]byte(stdout), &fs); err != nil {
		t.Fatalf("fit stdout is not JSON: %v\n%s", err, stdout)
	}
	if fs.Source != "gaussian" || strings.Join(fs.Condition.Tasks, ",") != "mnist,mnist+perm:1" || fs.Latent.LatentDim != 4 ||
		len(fs.Latent.PerTask) != 2 || fs.Latent.PerTask["mnist+perm:1"].N != 2 {
		t.Errorf("fit summary: %s", stdout)
	}
	// The same command again reuses the VAE and finds the flow complete.
	if code, again, errs := runCLI(t, fit...); code != 0 || !strings.Contains(errs, "reusing the VAE") || !strings.Contains(again, `"steps_this_run": 0`) {
		t.Errorf("rerun: exit %d, stderr %q, stdout %s", code, errs, again)
	}
	sample := func(name, out string) *traj.Generated {
		t.Helper()
		code, stdout, errs := runCLI(t, "sample", "--model", model, "--n", "3", "--solver", "euler", "--steps", "4", "--seed", "2", "--task", name,
			"--guidance", "2", "--support-seed", "4", "--task-test", "50", "--out", out, "--json")
		if code != 0 {
			t.Fatalf("sample --task %s exit %d: %s", name, code, errs)
		}
		var ss struct {
			Latent, Task string
			TaskAccuracy struct{ N int } `json:"task_accuracy"`
		}
		if err := json.Unmarshal([]byte(stdout), &ss); err != nil || ss.Latent != "vae" || ss.Task != name || ss.TaskAccuracy.N != 3 {
			t.Errorf("sample summary (%v): %s", err, stdout)
		}
		g, err := traj.ReadGenerated(out)
		if err != nil {
			t.Fatal(err)
		}
		if g.N != 3 || g.P != 784*4+4+4*10+10 || g.Meta.Extra["latent"] != "vae" || g.Meta.Extra["task"] != name {
			t.Errorf("generated N=%d P=%d extra %v", g.N, g.P, g.Meta.Extra)
		}
		return g
	}
	a := sample("mnist", filepath.Join(dir, "a.safetensors"))
	a2 := sample("mnist", filepath.Join(dir, "a2.safetensors"))
	b := sample("mnist+perm:1", filepath.Join(dir, "b.safetensors"))
	if !slices.Equal(a.Weights, a2.Weights) {
		t.Error("the same sample command gave other nets")
	}
	if slices.Equal(a.Weights, b.Weights) {
		t.Error("another task's support set gave the same nets")
	}
}
