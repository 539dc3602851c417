package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sharedDir holds the committed copies of the small datasets (nmflow/data/testdata).
func sharedDir(t *testing.T) string {
	d := filepath.Join("..", "..", "data", "testdata")
	if _, err := os.Stat(filepath.Join(d, "uci-heart", "train.csv")); err != nil {
		t.Fatalf("missing test copy of UCI Heart: %v", err)
	}
	return d
}

// A small Detectron run on UCI Heart's real shift: JSON on stdout and in --out, one entry per
// |Q| with the trials of both hypotheses.
func TestDetectCommandUCIHeart(t *testing.T) {
	t.Setenv("NMFLOW_PROGRESS", "0")
	dir := sharedDir(t)
	out := filepath.Join(t.TempDir(), "detect.json")
	code, stdout, errs := runCLI(t, "detect", "--dataset", "uci-heart", "--dir", dir, "--q-sizes", "10,20", "--trials", "3",
		"--ensemble", "2", "--steps", "10", "--base-epochs", "5", "--seed", "1", "--json", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res struct {
		Method      string   `json:"method"`
		BaseTestAcc *float64 `json:"base_test_acc"`
		Config      struct {
			Epochs int `json:"epochs"`
			Steps  int `json:"steps"`
		} `json:"config"`
		Sizes []struct {
			QSize int               `json:"q_size"`
			Null  []json.RawMessage `json:"null"`
			Alt   []json.RawMessage `json:"alt"`
			Dis   struct {
				AUROC *float64 `json:"auroc"`
			} `json:"disagreement"`
		} `json:"sizes"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if res.Method != "detectron" || len(res.Sizes) != 2 || res.Sizes[1].QSize != 20 || len(res.Sizes[0].Null) != 3 || len(res.Sizes[0].Alt) != 3 ||
		res.Sizes[0].Dis.AUROC == nil || *res.Sizes[0].Dis.AUROC < 0 || *res.Sizes[0].Dis.AUROC > 1 {
		t.Fatalf("result %+v", res)
	}
	// f's accuracy is printed before the trials and carried in the JSON.
	if res.BaseTestAcc == nil || *res.BaseTestAcc < 0.6 || res.Config.Steps != 10 || res.Config.Epochs != 5 ||
		!strings.Contains(errs, fmt.Sprintf("test accuracy %.3f", *res.BaseTestAcc)) {
		t.Errorf("f's accuracy %v, config %+v; stderr %q", res.BaseTestAcc, res.Config, errs)
	}
	if b, err := os.ReadFile(out); err != nil || !json.Valid(b) {
		t.Errorf("--out: %v", err)
	}
}

func TestDetectCommandErrors(t *testing.T) {
	dir := sharedDir(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--method", "meta", "--ensemble", "5", "--ft-batch", "3"}, "at least the ensemble size"},
		{[]string{"--method", "knn"}, "unknown --method"},
		{[]string{"--method", "meta", "--start-time", "1"}, "bad --start-time"},
		{[]string{"--q-sizes", "10,x"}, "bad --q-sizes"},
		{[]string{"--trials", "1"}, "--trials must be ≥ 2"},
		{[]string{"--steps", "-1"}, "--steps must be ≥ 0"},
		{[]string{"--epochs", "0"}, "--epochs must be ≥ 1"},
		{[]string{"--alpha", "2"}, "alpha must be in (0,1)"},
		{[]string{"--dataset", "uci-heart", "--dir", dir, "--shift", "rotate:10"}, "one real shift"},
		{[]string{"--dataset", "uci-heart", "--dir", dir, "--q-sizes", "500"}, "pool sizes"},
	} {
		code, _, errs := runCLI(t, append([]string{"detect"}, c.args...)...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q (want %q)", c.args, code, errs, c.want)
		}
	}
}

// Meta-detectron from the command line: a tiny zoo and meta-model fitted into --meta, trials
// with per-iteration tests; a second run loads the folder, and f of another architecture is
// refused with the fix in the message.
func TestDetectCommandMeta(t *testing.T) {
	t.Setenv("NMFLOW_PROGRESS", "0")
	dir := sharedDir(t)
	meta := filepath.Join(t.TempDir(), "meta")
	args := []string{"detect", "--method", "meta", "--dataset", "uci-heart", "--dir", dir, "--q-sizes", "10", "--trials", "2", "--ensemble", "2",
		"--base-epochs", "3", "--meta", meta, "--meta-runs", "4", "--meta-steps", "20", "--meta-width", "16",
		"--ft-updates", "1", "--ft-batch", "2", "--ft-steps", "3", "--seed", "1", "--start-time", "0"}
	code, stdout, errs := runCLI(t, append(args, "--json")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res struct {
		Method string `json:"method"`
		Meta   *struct {
			Exact bool `json:"exact"`
		} `json:"meta"`
		Sizes []struct {
			Alt        []json.RawMessage `json:"alt"`
			Iterations []struct {
				Iter int `json:"iter"`
			} `json:"iterations"`
		} `json:"sizes"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if res.Method != "meta" || res.Meta == nil || !res.Meta.Exact || len(res.Sizes) != 1 || len(res.Sizes[0].Alt) != 2 || len(res.Sizes[0].Iterations) != 2 {
		t.Fatalf("result %+v", res)
	}
	if _, err := os.Stat(filepath.Join(meta, "model.json")); err != nil {
		t.Fatalf("--meta folder holds no model: %v", err)
	}
	code, stdout, errs = runCLI(t, args...)
	if code != 0 || !strings.Contains(stdout, "meta on uci-heart") {
		t.Fatalf("second run (loading --meta): exit %d, %s %s", code, stdout, errs)
	}
	// Near f (the default start time): candidates from f noised to t0, with their P agreement.
	code, stdout, errs = runCLI(t, append(args[:len(args)-2], "--ft-batch", "4")...)
	if code != 0 || !strings.Contains(stdout, "nets sampled from f noised to t = ") || !strings.Contains(stdout, "start 0.30: candidates agree with f on") ||
		!strings.Contains(stdout, "null CDCs agree with f on") {
		t.Fatalf("near f: exit %d, %s %s", code, stdout, errs)
	}
	code, _, errs = runCLI(t, append(args, "--hidden", "8")...)
	if code == 0 || !strings.Contains(errs, "fit the meta-model on a zoo of f's architecture") {
		t.Errorf("other architecture: exit %d, %s", code, errs)
	}
}
