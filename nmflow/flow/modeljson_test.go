package flow

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ReadModelJSON reads an unfinished fit's progress, which Load refuses, and says nil for a folder
// without one; VelocityParams counts the velocity net's weights in the checkpoint.
func TestReadModelJSONAndVelocityParams(t *testing.T) {
	z := driftZoo(tinyLayout(), 8, 3, 1)
	cfg := smallConfig()
	dir := filepath.Join(t.TempDir(), "m")
	if m, err := ReadModelJSON(dir); m != nil || err != nil {
		t.Fatalf("no model.json: got %v, %v; want nil, nil", m, err)
	}
	if _, err := fitQuiet(t, z, cfg, dir, 10); err == nil {
		t.Fatal("StopAfter 10 of 30 steps: no error")
	}
	m, err := ReadModelJSON(dir)
	if err != nil || m == nil || m.Steps != 10 || m.Config.Steps != cfg.Steps || len(m.History) != 10 {
		t.Fatalf("unfinished fit: %+v, %v; want 10 of %d steps", m, err, cfg.Steps)
	}
	full, err := fitQuiet(t, z, cfg, dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for v := range full.Weights().IterVariables() {
		want += v.Shape().Size()
	}
	if got, err := VelocityParams(dir); err != nil || got != want || got == 0 {
		t.Errorf("VelocityParams = %d, %v; want %d (the sampler's weights)", got, err, want)
	}
	if err := os.WriteFile(filepath.Join(dir, modelFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadModelJSON(dir); err == nil || !strings.Contains(err.Error(), "not a valid model file") {
		t.Errorf("torn model.json: err = %v, want one saying it is not a valid model file", err)
	}
}
