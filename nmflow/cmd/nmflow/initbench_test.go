package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInitBenchCommand(t *testing.T) {
	dir := pipeline(t)
	out := filepath.Join(t.TempDir(), "bench.json")
	args := []string{"init-bench", "--generated", filepath.Join(dir, "gen.safetensors"), "--n", "4", "--train-size", "512",
		"--test-size", "200", "--batch", "64", "--steps", "12", "--points", "2", "--seed", "5", "--out", out, "--json"}
	code, stdout, errs := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r struct {
		Dataset string  `json:"dataset"`
		Steps   []int64 `json:"steps"`
		Marks   []struct {
			Label string `json:"label"`
			Step  int64  `json:"step"`
		} `json:"marks"`
		Sets []struct {
			Name    string      `json:"name"`
			N       int         `json:"n"`
			AccMean []float64   `json:"acc_mean"`
			Acc     [][]float32 `json:"test_acc"`
		} `json:"sets"`
		Baseline string `json:"baseline_init"`
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	// 512/64 = 8 steps per epoch: marks at 0, 2, 8 and 12.
	if r.Dataset != "mnist" || len(r.Marks) != 4 || r.Marks[1].Step != 2 || r.Marks[2].Step != 8 || r.Marks[3].Step != 12 || r.Baseline != "pytorch-default" {
		t.Fatalf("result %s", stdout)
	}
	if len(r.Sets) != 2 || r.Sets[0].Name != "generated" || r.Sets[1].N != 4 || len(r.Sets[1].Acc) != len(r.Steps) || len(r.Sets[1].Acc[0]) != 4 {
		t.Fatalf("sets %s", stdout)
	}
	// Kaiming nets start near chance and learn; the file on disk is the printed result.
	if k := r.Sets[1].AccMean; k[0] > 0.3 || k[len(k)-1] < k[0]+0.2 {
		t.Errorf("kaiming accuracy %v", k)
	}
	if b, err := os.ReadFile(out); err != nil || strings.TrimSpace(string(b)) != strings.TrimSpace(stdout) {
		t.Errorf("%s differs from stdout (%v)", out, err)
	}
	txt, err := os.ReadFile(strings.TrimSuffix(out, ".json") + ".txt")
	if err != nil || !strings.Contains(string(txt), "generated (n=4)") || !strings.Contains(string(txt), "1/4 epoch") {
		t.Errorf("text table: %v\n%s", err, txt)
	}
	// Same seed, same numbers (the wall time aside).
	code, again, _ := runCLI(t, args[:len(args)-3]...)
	if code != 0 || !strings.Contains(again, "1 epoch") {
		t.Fatalf("rerun: exit %d\n%s", code, again)
	}
	if again != string(txt) {
		t.Errorf("rerun differs:\n%s\nvs\n%s", again, txt)
	}
}

// --transfer on prepares the generated nets (downstream.ForTransfer) and keeps them as sampled
// too; auto leaves a same-dataset bench as it was (tested above: two sets).
func TestInitBenchTransfer(t *testing.T) {
	dir := pipeline(t)
	code, stdout, errs := runCLI(t, "init-bench", "--generated", filepath.Join(dir, "gen.safetensors"), "--n", "3", "--train-size", "256",
		"--test-size", "100", "--batch", "64", "--steps", "4", "--points", "1", "--transfer", "on", "--keep", "0.5", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r struct {
		Sets []struct {
			Name    string    `json:"name"`
			AccMean []float64 `json:"acc_mean"`
		} `json:"sets"`
		Keep *float64 `json:"transfer_keep"`
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Sets) != 3 || r.Sets[0].Name != "generated" || r.Sets[1].Name != "generated, as sampled" || r.Keep == nil || *r.Keep != 0.5 {
		t.Fatalf("sets and keep: %s", stdout)
	}
	if r.Sets[0].AccMean[0] == r.Sets[1].AccMean[0] || !strings.Contains(errs, "prepared for transfer") {
		t.Errorf("the prepared nets start where the sampled ones do (%v), stderr %s", r.Sets[0].AccMean[0], errs)
	}
	for _, bad := range [][]string{{"--transfer", "maybe"}, {"--keep", "2"}} {
		if code, _, errs := runCLI(t, append([]string{"init-bench", "--generated", filepath.Join(dir, "gen.safetensors")}, bad...)...); code == 0 || !strings.Contains(errs, bad[0]) {
			t.Errorf("%v: exit %d, %s", bad, code, errs)
		}
	}
}

func TestInitBenchErrors(t *testing.T) {
	dir := pipeline(t)
	gen := filepath.Join(dir, "gen.safetensors")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--generated", gen, "--n", "100"}, "holds 6"},
		{[]string{"--generated", gen, "--steps", "-1"}, "--steps"},
		{[]string{"--generated", gen, "--init", "zeros"}, "unknown init law"},
		{[]string{"--generated", gen, "--optimizer", "lbfgs", "--train-size", "256"}, "unknown optimizer"},
		{[]string{"--generated", filepath.Join(dir, "zoo.safetensors")}, "zoo"},
		{[]string{"--generated", filepath.Join(dir, "missing.safetensors")}, "missing.safetensors"},
	} {
		code, _, errs := runCLI(t, append([]string{"init-bench"}, tc.args...)...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want an error mentioning %q", tc.args, code, errs, tc.want)
		}
	}
}
