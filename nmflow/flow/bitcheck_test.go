//go:build bitcheck

package flow

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/nmflow/nmflow/nmflow/solve"
)

// TestBitCheck writes the sha256 of the checkpoint files, histories and samples of small fits
// (CFM with each coupling, MMFM cubic and linear, JKO, conditional with guidance) to the file
// $BITCHECK_OUT, to prove a refactoring changes no fit: run it on two commits and compare the
// outputs, ignoring the timestamps in checkpoint names (copy this file into a commit without it),
//
//	BITCHECK_OUT=/tmp/a.txt go test -tags bitcheck -run TestBitCheck ./nmflow/flow
//	diff <(sed -E 's/-[0-9]{8}-[0-9]{6}-/-/' /tmp/a.txt) <(sed -E 's/-[0-9]{8}-[0-9]{6}-/-/' /tmp/b.txt)
func TestBitCheck(t *testing.T) {
	be := testBackend(t)
	out := os.Getenv("BITCHECK_OUT")
	if out == "" {
		t.Fatal("set BITCHECK_OUT to the file that receives the hashes")
	}
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hashF := func(w []float32) string {
		h := sha256.New()
		for _, v := range w {
			b := math.Float32bits(v)
			h.Write([]byte{byte(b), byte(b >> 8), byte(b >> 16), byte(b >> 24)})
		}
		return fmt.Sprintf("%x", h.Sum(nil))[:16]
	}
	dump := func(name, dir string, m *Model) {
		var files []string
		filepath.Walk(filepath.Join(dir, "ckpt"), func(p string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				files = append(files, p)
			}
			return nil
		})
		sort.Strings(files)
		for _, p := range files {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			fmt.Fprintf(f, "%s %s %x\n", name, rel, sha256.Sum256(b))
		}
		fmt.Fprintf(f, "%s history %s gradnorm %s\n", name, hashF(m.History), hashF(m.GradNorm))
		l, err := Load(dir, be)
		if err != nil {
			t.Fatal(err)
		}
		so := SampleOptions{Solve: solve.Options{Method: "rk4", Steps: 8}, Seed: 3}
		if m.Config.Method == MethodJKO {
			so = SampleOptions{Seed: 3}
		}
		s, err := l.Sample(5, so)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(f, "%s sample %s inits %s\n", name, hashF(s.Weights), hashF(s.Inits))
	}
	zoo := driftZoo(tinyLayout(), 12, 6, 7)
	net := NetConfig{Width: 32, Depth: 2, TimeDim: 8}
	cases := map[string]Config{
		"cfm":      {Net: net, Steps: 30, BatchSize: 16, Seed: 1},
		"cfm-ot":   {Net: net, Steps: 30, BatchSize: 16, Seed: 2, Coupling: CouplingOT, Sigma: 0.05, Predict: PredictVelocity},
		"cfm-traj": {Net: net, Steps: 30, BatchSize: 16, Seed: 3, Coupling: CouplingTrajectory, Norm: NormParam},
		"mmfm":     {Method: MethodMMFM, Net: net, Steps: 30, BatchSize: 16, Seed: 4, Sigma: 0.1, MMFM: MMFMConfig{Noise: NoiseAdaptive}},
		"mmfm-lin": {Method: MethodMMFM, Net: net, Steps: 30, BatchSize: 16, Seed: 5, Predict: PredictTarget, Intermediates: 2, MMFM: MMFMConfig{Interp: InterpLinear, Times: TimesArc}},
		"jko":      {Method: MethodJKO, Net: net, Steps: 30, BatchSize: 16, Seed: 6, JKO: JKOConfig{TimeDependent: true}},
	}
	names := []string{"cfm", "cfm-ot", "cfm-traj", "mmfm", "mmfm-lin", "jko"}
	for _, n := range names {
		dir := t.TempDir()
		m, err := Fit(context.Background(), zoo, cases[n], Options{Backend: be, Dir: dir, CheckpointEvery: 10, Progress: io.Discard})
		if err != nil {
			t.Fatal(n, err)
		}
		dump(n, dir, m)
	}
	dir := t.TempDir()
	m, err := FitConditional(context.Background(), condTasks(), condConfig(20), Options{Backend: be, Dir: dir, Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	dump("cond", dir, m)
	sup := drawSupport(t, m, condTasks()[0].Pool, 9)
	s, err := m.Sample(4, SampleOptions{Solve: solve.Options{Method: "euler", Steps: 5}, Seed: 2, Cond: &Condition{Support: sup, Guidance: 2}})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "cond guided %s\n", hashF(s.Weights))
}
