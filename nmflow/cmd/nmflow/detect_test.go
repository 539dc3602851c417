package main

import (
	"encoding/json"
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
		Method string `json:"method"`
		Sizes  []struct {
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
		{[]string{"--method", "meta"}, "not available yet"},
		{[]string{"--method", "knn"}, "unknown --method"},
		{[]string{"--q-sizes", "10,x"}, "bad --q-sizes"},
		{[]string{"--trials", "1"}, "--trials must be ≥ 2"},
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
