package main

import (
	"encoding/json"
	"path/filepath"
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
