package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLRCutFlags: --lr-cut and --max-lr-cuts are validated before any work, zoo checks that
// --out can be written before training, and both flags reach zoo.Train and flow.Fit: an absurd
// learning rate diverges, and with one allowed cut the run gives up after it.
func TestLRCutFlags(t *testing.T) {
	tmp := t.TempDir()
	tiny := []string{"--dataset", "mnist", "--runs", "2", "--hidden", "4", "--train-size", "256", "--test-size", "100",
		"--epochs", "1", "--batch", "64", "--checkpoints", "2", "--seed", "1"}
	zooPath := filepath.Join(tmp, "zoo.safetensors")
	fit := []string{"fit", "--zoo", zooPath, "--steps", "20", "--width", "8", "--depth", "1", "--batch", "4", "--checkpoint-every", "5"}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"zoo", "--lr-cut", "1.5"}, "--lr-cut must be in (0,1)"},
		{[]string{"zoo", "--lr-cut", "-0.5"}, "--lr-cut must be in (0,1)"},
		{[]string{"zoo", "--lr-cut", "0.5", "--max-lr-cuts", "0"}, "--max-lr-cuts must be ≥ 1"},
		{[]string{"fit", "--lr-cut", "1"}, "--lr-cut must be in (0,1)"},
		{[]string{"fit", "--lr-cut", "NaN"}, "--lr-cut must be a finite number"},
		{[]string{"fit", "--max-lr-cuts", "-1"}, "--max-lr-cuts must be ≥ 1"},
		{append([]string{"zoo", "--out", filepath.Join(tmp, "missing", "zoo.safetensors")}, tiny...), "does not exist; create it first"},
		{append([]string{"zoo", "--out", tmp}, tiny...), "is a folder"},
	}
	for _, c := range cases {
		code, _, errs := runCLI(t, c.args...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q (want %q)", c.args, code, errs, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(tmp, "missing")); !os.IsNotExist(err) {
		t.Errorf("a zoo with an unwritable --out left %v", err)
	}

	// A learning rate of 1e29 makes SGD diverge at once: stop with a hint, or give up after one cut.
	bad := append([]string{"zoo", "--out", filepath.Join(tmp, "bad.safetensors"), "--lr", "1e29"}, tiny...)
	if code, _, errs := runCLI(t, bad...); code == 0 || !strings.Contains(errs, "diverged") || !strings.Contains(errs, "--lr-cut 0.5") {
		t.Errorf("diverging zoo: exit %d, stderr %q", code, errs)
	}
	os.Remove(filepath.Join(tmp, "bad.safetensors.state"))
	if code, _, errs := runCLI(t, append(bad, "--lr-cut", "0.5", "--max-lr-cuts", "1")...); code == 0 || !strings.Contains(errs, "gave up after 1 learning-rate cuts") {
		t.Errorf("zoo --lr-cut --max-lr-cuts 1: exit %d, stderr %q", code, errs)
	}

	if code, _, errs := runCLI(t, append([]string{"zoo", "--out", zooPath, "--lr", "0.1"}, tiny...)...); code != 0 {
		t.Fatalf("zoo: exit %d: %s", code, errs)
	}
	if code, _, errs := runCLI(t, append(fit, "--lr", "1e30", "--out", filepath.Join(tmp, "m1"))...); code == 0 || !strings.Contains(errs, "loss became NaN at step") || !strings.Contains(errs, "--lr-cut") {
		t.Errorf("diverging fit: exit %d, stderr %q", code, errs)
	}
	if code, _, errs := runCLI(t, append(fit, "--lr", "1e30", "--lr-cut", "0.5", "--max-lr-cuts", "1", "--out", filepath.Join(tmp, "m2"))...); code == 0 || !strings.Contains(errs, "gave up after 1 learning-rate cuts") {
		t.Errorf("fit --lr-cut --max-lr-cuts 1: exit %d, stderr %q", code, errs)
	}
}
