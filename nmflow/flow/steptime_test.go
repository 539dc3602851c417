package flow

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A fit reports its time per step in its progress line and records it in model.json
// (wall seconds over steps), the figure a user needs to size a longer fit.
func TestFitReportsTimePerStep(t *testing.T) {
	z := driftZoo(tinyLayout(), 8, 2, 1)
	dir := t.TempDir()
	var progress bytes.Buffer
	m, err := Fit(context.Background(), z, smallConfig(), Options{Backend: testBackend(t), Dir: dir, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "s/step") {
		t.Errorf("progress has no time per step:\n%s", progress.String())
	}
	b, err := os.ReadFile(filepath.Join(dir, modelFile))
	if err != nil {
		t.Fatal(err)
	}
	var saved struct {
		Steps       int     `json:"steps_done"`
		Wall        float64 `json:"wall_seconds"`
		StepSeconds float64 `json:"step_seconds"`
	}
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatal(err)
	}
	if !(saved.StepSeconds > 0) || math.Abs(saved.StepSeconds*float64(saved.Steps)-saved.Wall) > 1e-9*saved.Wall || saved.StepSeconds != m.StepSeconds {
		t.Errorf("model.json: %d steps in %gs, %gs/step; model %gs/step", saved.Steps, saved.Wall, saved.StepSeconds, m.StepSeconds)
	}
}
