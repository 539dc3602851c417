package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/interop"
	"github.com/nmflow/nmflow/nmflow/traj"
)

const torchZoo = "../../interop/testdata/torchzoo"

// TestImportExport: a PyTorch zoo folder imports as a trajectory file, and its nets export back
// in every format, stacked or one at a time, readable by interop.Read.
func TestImportExport(t *testing.T) {
	dir := t.TempDir()
	zooPath := filepath.Join(dir, "zoo.safetensors")
	code, out, errs := runCLI(t, "import", "--from", torchZoo, "--arch", "mlp", "--input", "1,4,4", "--hidden", "8,6",
		"--classes", "3", "--steps-per-epoch", "6", "--dataset", "toy", "--out", zooPath, "--json")
	if code != 0 {
		t.Fatalf("import: exit %d: %s", code, errs)
	}
	var s struct {
		Runs, Checkpoints, Params int
		Steps                     []int64
		Metrics                   []string
		Pattern                   string
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	if s.Runs != 3 || s.Checkpoints != 4 || s.Params != 211 || s.Steps[3] != 18 || len(s.Metrics) != 2 || !strings.Contains(errs, "6/6 layout tensors") {
		t.Fatalf("summary %+v, stderr %s", s, errs)
	}
	z, err := traj.ReadZoo(zooPath)
	if err != nil || z.Meta.Dataset.Name != "toy" || z.Meta.Arch.String() != "mlp 16-8-6-3" {
		t.Fatalf("zoo: %v %+v", err, z.Meta.Arch)
	}
	for _, format := range interop.ExportFormats() {
		all := filepath.Join(dir, "all."+format)
		if code, _, errs := runCLI(t, "export", "--generated", zooPath, "--format", format, "--out", all); code != 0 {
			t.Fatalf("export %s: %s", format, errs)
		}
		sd, err := interop.Read(all)
		if err != nil || len(sd.Tensors["fc1.weight"].Shape) != 4 {
			t.Fatalf("%s: stacked export reads as %v (%v)", format, sd, err)
		}
		one := filepath.Join(dir, "one."+format)
		if code, _, errs := runCLI(t, "export", "--generated", zooPath, "--format", format, "--index", "5", "--keys", "sequential", "--out", one); code != 0 {
			t.Fatalf("export %s --index: %s", format, errs)
		}
		sd, err = interop.Read(one)
		if err != nil {
			t.Fatal(err)
		}
		if w, _, _ := interop.Float32s(sd.Tensors["1.weight"]); len(w) != 128 || w[7] != z.At(1, 1)[7] {
			t.Errorf("%s: --index 5 is not run 1 checkpoint 1", format)
		}
	}
	// The stacked .pt imports back to the same zoo.
	back := filepath.Join(dir, "back.safetensors")
	if code, _, errs := runCLI(t, "import", "--from", filepath.Join(dir, "all.pt"), "--input", "1,4,4", "--out", back); code != 0 {
		t.Fatalf("import of a stacked file: %s", errs)
	}
	if b, err := traj.ReadZoo(back); err != nil || b.Runs != 3 || b.Checkpoints != 4 || b.At(2, 3)[5] != z.At(2, 3)[5] {
		t.Fatalf("re-import: %v", err)
	}
}

func TestImportExportErrors(t *testing.T) {
	dir := t.TempDir()
	zooPath := filepath.Join(dir, "zoo.safetensors")
	if code, _, errs := runCLI(t, "import", "--from", torchZoo, "--out", zooPath); code != 0 {
		t.Fatal(errs)
	}
	os.WriteFile(filepath.Join(dir, "junk.pt"), []byte("not a checkpoint"), 0o644)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"import", "--out", zooPath}, "--from must name"},
		{[]string{"import", "--from", torchZoo, "--arch", "rnn"}, "unknown --arch"},
		{[]string{"import", "--from", torchZoo, "--arch", "cnn", "--out", zooPath}, "use --arch mlp"},
		{[]string{"import", "--from", torchZoo, "--hidden", "8,5", "--out", zooPath}, "--hidden says [8 5]"},
		{[]string{"import", "--from", torchZoo, "--classes", "10", "--out", zooPath}, "--classes says 10"},
		{[]string{"import", "--from", torchZoo, "--init", "zeros", "--out", zooPath}, "unknown --init"},
		{[]string{"import", "--from", torchZoo, "--steps-per-epoch", "-1"}, "--steps-per-epoch"},
		{[]string{"import", "--from", torchZoo, "--pattern", "run{run}.pt", "--out", zooPath}, "pattern"},
		{[]string{"import", "--from", filepath.Join(dir, "missing"), "--out", zooPath}, "no such file"},
		{[]string{"import", "--from", filepath.Join(dir, "junk.pt"), "--out", zooPath}, "not a readable PyTorch checkpoint"},
		{[]string{"import", "--from", torchZoo, "--out", filepath.Join(dir, "no", "such", "dir", "z.safetensors")}, "does not exist; create it first"},
		{[]string{"import", "--from", torchZoo, "--out", dir}, "is a folder"},
		{[]string{"export", "--format", "pt", "--out", "x.pt"}, "--generated must name"},
		{[]string{"export", "--generated", zooPath, "--format", "onnx", "--out", "x"}, "unknown --format"},
		{[]string{"export", "--generated", zooPath, "--keys", "keras", "--out", "x"}, "unknown --keys"},
		{[]string{"export", "--generated", zooPath, "--index", "12", "--out", filepath.Join(dir, "x.pt")}, "out of range"},
		{[]string{"export", "--generated", zooPath, "--index", "-2", "--out", "x"}, "--index must be"},
		{[]string{"export", "--generated", zooPath}, "--out must name"},
		{[]string{"export", "--generated", filepath.Join(dir, "junk.pt"), "--out", filepath.Join(dir, "x.pt")}, "not a valid safetensors"},
	}
	for _, c := range cases {
		code, _, errs := runCLI(t, c.args...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q (want %q)", c.args, code, errs, c.want)
		}
	}
	for _, cmd := range []string{"import", "export"} {
		if code, _, errs := runCLI(t, cmd, "--help"); code != 0 || !strings.Contains(errs, "Usage: nmflow "+cmd) {
			t.Errorf("%s --help: exit %d, %q", cmd, code, errs)
		}
	}
}
