package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/internal/membudget"
	"github.com/nmflow/nmflow/nmflow/internal/outpath"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// Tests of issue 21: nothing a user types destroys data, shows a stack trace or gives a wrong
// answer silently. Each fails before any training, so they are quick.

// fixtureZoo writes a tiny MNIST-shaped zoo (2 runs, 2 checkpoints, hidden 4) without training.
func fixtureZoo(t *testing.T, path string) {
	t.Helper()
	spec := arch.MLP([]int{1, 28, 28}, 10, 4)
	l := arch.MustNew(spec).Layout()
	z := &traj.Zoo{Meta: traj.Meta{Arch: spec, Layout: l, Dataset: traj.DatasetMeta{Name: "mnist"}}, Runs: 2, Checkpoints: 2, Params: l.Size(),
		Weights: make([]float32, 2*2*l.Size()), Steps: []int64{0, 10}}
	if err := traj.WriteZoo(path, z); err != nil {
		t.Fatal(err)
	}
}

func fixtureGenerated(t *testing.T, path string) {
	t.Helper()
	spec := arch.MLP([]int{1, 28, 28}, 10, 4)
	l := arch.MustNew(spec).Layout()
	g := &traj.Generated{Meta: traj.Meta{Arch: spec, Layout: l, Dataset: traj.DatasetMeta{Name: "mnist"}}, N: 2, P: l.Size(), Weights: make([]float32, 2*l.Size())}
	if err := traj.WriteGenerated(path, g); err != nil {
		t.Fatal(err)
	}
}

// refused runs args and checks a non-zero exit whose message holds want, and that the files in
// keep are byte-identical afterwards.
func refused(t *testing.T, want string, keep []string, args ...string) {
	t.Helper()
	before := make([][]byte, len(keep))
	for i, p := range keep {
		before[i], _ = os.ReadFile(p)
	}
	code, _, errs := runCLI(t, args...)
	if code == 0 || !strings.Contains(errs, want) {
		t.Errorf("%v: exit %d, stderr %q (want %q)", args, code, errs, want)
	}
	if strings.Contains(errs, "goroutine ") {
		t.Errorf("%v: stack trace on stderr:\n%s", args, errs)
	}
	for i, p := range keep {
		if after, err := os.ReadFile(p); err != nil || !bytes.Equal(after, before[i]) {
			t.Errorf("%v changed or removed %s (%v)", args, p, err)
		}
	}
}

var tinyZoo = []string{"zoo", "--runs", "2", "--hidden", "4", "--train-size", "1000", "--test-size", "100", "--checkpoints", "3"}

func TestZooOutSameAsStateIsRefused(t *testing.T) {
	z := filepath.Join(t.TempDir(), "z.safetensors")
	fixtureZoo(t, z)
	refused(t, "same path as the input --state", []string{z}, append(tinyZoo, "--out", z, "--state", z)...)
}

func TestOutputsOverInputsAreRefused(t *testing.T) {
	d := t.TempDir()
	m := filepath.Join(d, "m")
	os.Mkdir(m, 0o755)
	model := filepath.Join(m, "model.json")
	os.WriteFile(model, []byte(`{"precious": true}`), 0o644)
	z, g := filepath.Join(d, "zoo.safetensors"), filepath.Join(d, "g.safetensors")
	fixtureZoo(t, z)
	fixtureGenerated(t, g)
	keep := []string{model, z, g}
	refused(t, "inside the input folder --model", keep, "sample", "--model", m, "--out", model)
	refused(t, "already holds a zoo", keep, "sample", "--model", m, "--out", z)
	refused(t, "same path as the input --generated", keep, "export", "--generated", g, "--format", "safetensors", "--out", g)
	refused(t, "already holds a zoo", keep, "export", "--generated", g, "--format", "npz", "--out", z)
	refused(t, "already holds a file of generated weights", keep, "import", "--from", z, "--out", g)
	refused(t, "inside the input folder --model", keep, "finetune", "--model", m, "--out", filepath.Join(m, "ft"))
	refused(t, "same path as the input shard", keep, "zoo", "merge", "--out", z, z)
}

func TestZooOverAnotherZooNeedsForce(t *testing.T) {
	z := filepath.Join(t.TempDir(), "zoo.safetensors")
	fixtureZoo(t, z)
	refused(t, "made with other settings", []string{z}, append(tinyZoo, "--out", z)...)
	txt := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(txt, []byte("mine"), 0o644)
	refused(t, "not a zoo from nmflow; pass --force", []string{txt}, append(tinyZoo, "--out", txt)...)
}

func TestNonsenseFlagValuesAreRefusedAtParse(t *testing.T) {
	d := t.TempDir()
	z := filepath.Join(d, "zoo.safetensors")
	fixtureZoo(t, z)
	out := filepath.Join(d, "model")
	cases := []struct {
		want string
		args []string
	}{
		{"--clip must be a finite number, got NaN", []string{"fit", "--zoo", z, "--clip", "NaN", "--out", out}},
		{"--ema must be a finite number", []string{"fit", "--zoo", z, "--ema", "nan", "--out", out}},
		{"--lr must be a finite number, got +Inf", []string{"fit", "--zoo", z, "--lr", "inf", "--out", out}},
		{"--ema must be in (0,1)", []string{"fit", "--zoo", z, "--ema", "1.5", "--out", out}},
		{"--weight-decay, --sigma and --sigma-min must be ≥ 0", []string{"fit", "--zoo", z, "--sigma", "-1", "--out", out}},
		{"--momentum must be a finite number", append(tinyZoo, "--momentum", "NaN", "--out", filepath.Join(d, "a"))},
		{"--weight-decay must be a finite number", append(tinyZoo, "--weight-decay", "NaN", "--out", filepath.Join(d, "a"))},
		{"--batch must be ≥ 1, got 0", append(tinyZoo, "--batch", "0", "--out", filepath.Join(d, "a"))},
		{"--momentum must be in [0,1)", append(tinyZoo, "--momentum", "1", "--out", filepath.Join(d, "a"))},
		{"--lr must be > 0", append(tinyZoo, "--lr", "-1", "--out", filepath.Join(d, "a"))},
		{"--hidden must be ≥ 1, got 0", []string{"tasks", "--tasks", "mnist", "--hidden", "0", "--out", filepath.Join(d, "t")}},
		{"--rtol 1e-30", []string{"sample", "--solver", "dopri5", "--rtol", "1e-30", "--out", filepath.Join(d, "g")}},
		{"--guidance must be a finite number", []string{"sample", "--guidance", "NaN"}},
		{"--ensemble must be ≥ 1, got 0", []string{"detect", "--ensemble", "0"}}, // --steps 0 is valid: --epochs passes
		{"--alpha must be > 0", []string{"detect", "--alpha", "0"}},
		{"--lambda must be a finite number", []string{"finetune", "--lambda", "NaN", "--out", filepath.Join(d, "ft")}},
	}
	for _, c := range cases {
		refused(t, c.want, nil, c.args...)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused fit created %s (%v)", out, err)
	}
}

func TestDuplicateTasksAreRefusedBeforeTraining(t *testing.T) {
	refused(t, "mnist is listed twice", nil, "tasks", "--tasks", "mnist,fashion-mnist,mnist", "--out", filepath.Join(t.TempDir(), "t"))
}

func TestAbsurdSizesAreRefusedBeforeAllocating(t *testing.T) {
	t.Setenv(membudget.EnvOverride, "")
	d := t.TempDir()
	z := filepath.Join(d, "zoo.safetensors")
	fixtureZoo(t, z)
	refused(t, "a zoo of 1000000000 runs", nil, "zoo", "--runs", "1000000000", "--hidden", "4", "--train-size", "1000", "--out", filepath.Join(d, "a"))
	refused(t, "this machine has", nil, "zoo", "--runs", "2", "--hidden", "1000000", "--train-size", "1000", "--out", filepath.Join(d, "a"))
	refused(t, "a velocity net of width 1000000", nil, "fit", "--zoo", z, "--width", "1000000", "--out", filepath.Join(d, "m"))
	dir := pipeline(t)
	t.Setenv(membudget.EnvOverride, "1")
	refused(t, "sampling 1000000 nets", nil, "sample", "--model", filepath.Join(dir, "model"), "--n", "1000000", "--out", filepath.Join(d, "g"))
}

func TestOutputIntoMissingOrReadOnlyFolderFailsBeforeWork(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	ro := t.TempDir()
	os.Chmod(ro, 0o555)
	defer os.Chmod(ro, 0o755)
	if f, err := os.CreateTemp(ro, "probe"); err == nil { // root ignores modes
		f.Close()
		os.Remove(f.Name())
		ro = "/sys"
	}
	z := filepath.Join(t.TempDir(), "zoo.safetensors")
	fixtureZoo(t, z)
	refused(t, "the folder "+missing+" does not exist", nil, "detect", "--trials", "2", "--out", filepath.Join(missing, "r.json"))
	refused(t, "cannot write into the folder "+ro, nil, "detect", "--trials", "2", "--out", filepath.Join(ro, "r.json"))
	refused(t, "the folder "+missing+" does not exist", nil, "sample", "--out", filepath.Join(missing, "g.safetensors"))
	refused(t, "cannot write into the folder "+ro, nil, "fit", "--zoo", z, "--out", filepath.Join(ro, "model"))
	refused(t, "cannot write into the folder "+ro, nil, "finetune", "--out", filepath.Join(ro, "ft"))
}

func TestSecondJobOnLockedOutputIsRefused(t *testing.T) {
	d := t.TempDir()
	z, m := filepath.Join(d, "zoo.safetensors"), filepath.Join(d, "model")
	fixtureZoo(t, z)
	l, err := outpath.Acquire(m, true)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	want := "locked by pid " + itoa(os.Getpid())
	refused(t, want, nil, "fit", "--zoo", z, "--steps", "5", "--width", "8", "--out", m)
	out := filepath.Join(d, "z2.safetensors")
	lz, err := outpath.Acquire(out, false)
	if err != nil {
		t.Fatal(err)
	}
	defer lz.Release()
	refused(t, want, nil, append(tinyZoo, "--out", out)...)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestHugeCheckpointDimensionsGiveAClearError(t *testing.T) {
	dir := pipeline(t)
	m := filepath.Join(t.TempDir(), "model")
	if err := os.CopyFS(m, os.DirFS(filepath.Join(dir, "model"))); err != nil {
		t.Fatal(err)
	}
	jsons, _ := filepath.Glob(filepath.Join(m, "ckpt", "checkpoint-*.json"))
	if len(jsons) == 0 {
		t.Fatal("no checkpoint in the pipeline's model")
	}
	for _, js := range jsons {
		b, _ := os.ReadFile(js)
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		doc["Variables"].([]any)[0].(map[string]any)["Dimensions"] = []int64{1 << 31, 1 << 31}
		b, _ = json.Marshal(doc)
		os.WriteFile(js, b, 0o644)
	}
	refused(t, "is damaged", nil, "sample", "--model", m, "--n", "2", "--out", filepath.Join(t.TempDir(), "g.safetensors"))
}

func TestPanicBecomesOneLineError(t *testing.T) {
	commands["panic-test"] = command{"", func([]string, io.Writer, io.Writer) error { panic("boom\nsecond line") }}
	defer delete(commands, "panic-test")
	refused(t, "nmflow: boom\n(an unexpected failure: rerun with NMFLOW_DEBUG=1", nil, "panic-test")
	t.Setenv("NMFLOW_DEBUG", "1")
	if _, _, errs := runCLI(t, "panic-test"); !strings.Contains(errs, "goroutine ") {
		t.Errorf("NMFLOW_DEBUG=1 shows no stack trace: %q", errs)
	}
}

// The backend is created once per process, so a bad GOMLX_BACKEND is tried in a child: this test
// binary re-run as the CLI.
func TestBadBackendNameGivesNoStackTrace(t *testing.T) {
	if os.Getenv("NMFLOW_TEST_RUN_CLI") == "1" {
		os.Exit(run([]string{"version"}, os.Stdout, os.Stderr))
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestBadBackendNameGivesNoStackTrace$")
	cmd.Env = append(os.Environ(), "NMFLOW_TEST_RUN_CLI=1", "GOMLX_BACKEND=foo")
	out, err := cmd.CombinedOutput()
	if err == nil || strings.Contains(string(out), "goroutine ") || !strings.Contains(string(out), `GOMLX_BACKEND="foo" failed`) ||
		!strings.Contains(string(out), "set GOMLX_BACKEND=go") {
		t.Errorf("GOMLX_BACKEND=foo nmflow version: %v\n%s", err, out)
	}
}

// A resume whose newest checkpoint was cut short by a kill says so, and names the step it really
// resumed from (the library sets the checkpoint aside silently).
func TestCorruptNewestCheckpointIsReportedWithTheRealResumeStep(t *testing.T) {
	dir := pipeline(t)
	zooPath := filepath.Join(dir, "zoo.safetensors")
	out := stoppedFit(t, zooPath, 20)
	bins, _ := filepath.Glob(filepath.Join(out, "ckpt", "checkpoint-*-step-00000020.bin"))
	if len(bins) != 1 {
		t.Fatalf("checkpoint of step 20: %v", bins)
	}
	if err := os.Truncate(bins[0], 10); err != nil {
		t.Fatal(err)
	}
	code, stdout, errs := runCLI(t, append(withZoo(fitArgs, zooPath), "--out", out)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, "could not be read") || !strings.Contains(errs, "moved aside into "+filepath.Join(out, "ckpt", "corrupt")) ||
		!strings.Contains(errs, "resumed from step 10, not 20") || !strings.Contains(stdout, "resumed at step 10") {
		t.Errorf("resume output: %q / %q", stdout, errs)
	}
}

// A model.json whose base arch contradicts its layout (hidden 2^40) must not sample silently.
func TestModelArchContradictingLayoutIsRefused(t *testing.T) {
	dir := pipeline(t)
	m := filepath.Join(t.TempDir(), "model")
	if err := os.CopyFS(m, os.DirFS(filepath.Join(dir, "model"))); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(m, "model.json"))
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	doc["base"].(map[string]any)["arch"].(map[string]any)["hidden"] = []int64{1 << 40}
	b, _ = json.Marshal(doc)
	os.WriteFile(filepath.Join(m, "model.json"), b, 0o644)
	refused(t, "contradictory metadata", nil, "sample", "--model", m, "--n", "2", "--out", filepath.Join(t.TempDir(), "g.safetensors"))
}
