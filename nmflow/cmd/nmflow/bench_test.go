package main

import (
	"encoding/json"
	"os"
	"path/filepath"
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
	path := filepath.Join(t.TempDir(), "ours.json")
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	// Compared with itself, every ratio is 1.
	code, out, errs = runCLI(t, "bench", "--from", path, "--compare", path)
	if code != 0 || strings.Count(out, " 1.00\n") != 3 {
		t.Fatalf("bench --compare: exit %d\n%s%s", code, out, errs)
	}
	if code, _, errs := runCLI(t, "bench", "--quick", "--workloads", "train"); code == 0 || !strings.Contains(errs, "unknown workload") {
		t.Fatalf("bad workload: exit %d %s", code, errs)
	}
}
