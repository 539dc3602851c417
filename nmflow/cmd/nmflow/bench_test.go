package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestBenchQuickJSONAndCompare(t *testing.T) {
	code, out, errs := runCLI(t, "bench", "--quick", "--workloads", "zoo,eval", "--json")
	if code != 0 {
		t.Fatalf("bench: %s", errs)
	}
	var rep struct {
		Impl    string `json:"impl"`
		Results []struct {
			Workload   string  `json:"workload"`
			Throughput float64 `json:"throughput"`
			Compiles   int     `json:"compiles"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Impl != "nmflow" || len(rep.Results) != 3 {
		t.Fatalf("bench --json: %v\n%s", err, out)
	}
	// The machine running the tests may be busy: the comparisons below are about the reports.
	out = regexp.MustCompile(`"other_cores": [-0-9.e]+`).ReplaceAllString(out, `"other_cores": 0`)
	out0 := out
	path := filepath.Join(t.TempDir(), "ours.json")
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	// Compared with itself over three rounds, every ratio is 1 and every check agrees.
	rounds := path + "," + path + "," + path
	code, out, errs = runCLI(t, "bench", "--from", rounds, "--compare", rounds)
	if code != 0 || strings.Count(out, "| **1.00** |") != 3 || strings.Count(out, "agree (") != 3 || !strings.Contains(out, "3 interleaved rounds") {
		t.Fatalf("bench --compare: exit %d\n%s%s", code, out, errs)
	}
	if code, _, errs := runCLI(t, "bench", "--from", rounds, "--compare", path); code == 0 || !strings.Contains(errs, "one reference report per nmflow report") {
		t.Fatalf("3 rounds against 1: exit %d %s", code, errs)
	}
	// A reference whose check values differ (a step doing other work) fails the comparison.
	other := filepath.Join(t.TempDir(), "other.json")
	if err := os.WriteFile(other, []byte(strings.ReplaceAll(out0, `"check": `, `"check": 9`)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runCLI(t, "bench", "--from", path, "--compare", other)
	if code == 0 || !strings.Contains(out, "**DISAGREE**") || !strings.Contains(errs, "not a fair, checked measurement") {
		t.Fatalf("disagreeing checks: exit %d\n%s%s", code, out, errs)
	}
	if code, _, errs := runCLI(t, "bench", "--quick", "--workloads", "train"); code == 0 || !strings.Contains(errs, "unknown workload") {
		t.Fatalf("bad workload: exit %d %s", code, errs)
	}
}

func TestBenchScalingJSONAndPlot(t *testing.T) {
	png := filepath.Join(t.TempDir(), "scaling.png")
	code, out, errs := runCLI(t, "bench", "--scaling", "--quick", "--iters", "2", "--json", "--plot", png)
	if code != 0 {
		t.Fatalf("bench --scaling: %s", errs)
	}
	var rep struct {
		Points []struct {
			Workload string  `json:"workload"`
			StepS    float64 `json:"step_s"`
			Compiles int     `json:"compiles"`
		} `json:"points"`
		Slopes map[string]float64 `json:"slopes"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Points) != 6 || len(rep.Slopes) != 4 {
		t.Fatalf("bench --scaling --json: %v\n%s", err, out)
	}
	for _, p := range rep.Points {
		if !(p.StepS > 0) || p.Compiles != 1 {
			t.Errorf("%+v", p)
		}
	}
	if b, err := os.ReadFile(png); err != nil || len(b) < 1000 || string(b[1:4]) != "PNG" {
		t.Fatalf("plot: %d bytes, %v", len(b), err)
	}
	if code, _, errs := runCLI(t, "bench", "--plot", png); code == 0 || !strings.Contains(errs, "--scaling") {
		t.Fatalf("--plot without --scaling: exit %d %s", code, errs)
	}
}
