package membudget

import (
	"strings"
	"testing"
)

func TestAbsurdSizeIsRefusedNotAllocated(t *testing.T) {
	t.Setenv(EnvOverride, "")
	total, src, err := Total()
	if err != nil || !(total > 0) {
		t.Fatalf("Total: %g %q %v", total, src, err)
	}
	err = Check("a zoo of 1000000000 runs", Floats(1_000_000_000, 25_450, 11), "--runs")
	if err == nil || !strings.Contains(err.Error(), "needs more than 1,000,000 GiB") || !strings.Contains(err.Error(), "this machine has") || !strings.Contains(err.Error(), "lower --runs") {
		t.Errorf("got %v", err)
	}
	if err := Check("a small zoo", Floats(16, 25_450, 11), "--runs"); err != nil {
		t.Errorf("a small job was refused: %v", err)
	}
}

func TestMemoryOverrideIsHonoured(t *testing.T) {
	t.Setenv(EnvOverride, "1")
	if err := Check("x", 2*gib, "--n"); err == nil || !strings.Contains(err.Error(), "has 1 GiB ("+EnvOverride+")") {
		t.Errorf("override 1 GiB: %v", err)
	}
	t.Setenv(EnvOverride, "inf")
	if err := Check("x", 1e18, "--n"); err != nil {
		t.Errorf("override inf: %v", err)
	}
	t.Setenv(EnvOverride, "-3")
	if err := Check("x", 1, "--n"); err == nil {
		t.Error("a negative override was accepted")
	}
}
