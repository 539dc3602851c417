package main

import (
	"bytes"
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

const byo = "../../interop/testdata/byo"

// TestImportYourOwnCheckpoints: every naming and wrapper PyTorch users save imports from the
// command line, printing the mapping; the export writes the saved state dict's own keys with the
// same bytes; a whole pickled module is refused with the fix.
func TestImportYourOwnCheckpoints(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ file, key0, container string }{
		{"sequential.pt", "0.weight", ""}, {"layers.pt", "layers.0.weight", ""}, {"custom.pt", "net.fc_in.weight", ""},
		{"training_loop.pt", "0.weight", "model_state_dict."}, {"lightning.pt", "model.0.weight", "state_dict."},
		{"dataparallel.pt", "module.0.weight", ""},
	} {
		zooPath := filepath.Join(dir, c.file+".safetensors")
		code, out, errs := runCLI(t, "import", "--from", filepath.Join(byo, c.file), "--out", zooPath, "--json")
		if code != 0 {
			t.Errorf("%s: exit %d: %s", c.file, code, errs)
			continue
		}
		var s struct{ Mapping map[string]string }
		if err := json.Unmarshal([]byte(out), &s); err != nil || s.Mapping[c.container+c.key0] != "fc1.weight" {
			t.Errorf("%s: mapping %v (%v)", c.file, s.Mapping, err)
		}
		if !strings.Contains(errs, c.container+c.key0+" [5 12] -> fc1.weight") {
			t.Errorf("%s: the mapping is not printed:\n%s", c.file, errs)
		}
		pt := filepath.Join(dir, c.file)
		if code, _, errs := runCLI(t, "export", "--generated", zooPath, "--index", "0", "--out", pt); code != 0 {
			t.Fatalf("%s: export: %s", c.file, errs)
		}
		got, err := interop.Read(pt)
		if err != nil {
			t.Fatal(err)
		}
		orig, _ := interop.Read(filepath.Join(byo, c.file))
		for _, k := range got.Names {
			if o := orig.Tensors[c.container+k]; !bytes.Equal(o.Data, got.Tensors[k].Data) {
				t.Errorf("%s: exported %s differs from the saved tensor", c.file, k)
			}
		}
		if got.Names[0] != c.key0 || len(got.Names) != 4 {
			t.Errorf("%s: exported keys %v", c.file, got.Names)
		}
	}
	code, _, errs := runCLI(t, "import", "--from", filepath.Join(byo, "whole_module.pt"), "--out", filepath.Join(dir, "w.safetensors"))
	if code == 0 || !strings.Contains(errs, "save net.state_dict()") || strings.Contains(errs, "goroutine") {
		t.Errorf("whole module: exit %d: %s", code, errs)
	}
	// The ordinary loop's folder, and a module whose mapping is stated by hand.
	zooPath := filepath.Join(dir, "zoo.safetensors")
	if code, _, errs := runCLI(t, "import", "--from", filepath.Join(byo, "zoo"), "--out", zooPath); code != 0 || !strings.Contains(errs, "0.weight [5 12] -> fc1.weight") {
		t.Fatalf("ordinary loop: exit %d: %s", code, errs)
	}
	code, _, errs = runCLI(t, "import", "--from", filepath.Join(byo, "custom.pt"), "--map", "classifier=fc2,net.fc_in=fc1", "--out", filepath.Join(dir, "m.safetensors"))
	if code != 0 || !strings.Contains(errs, "classifier.bias [3] -> fc2.bias") {
		t.Errorf("--map: exit %d: %s", code, errs)
	}
	if code, _, errs := runCLI(t, "import", "--from", filepath.Join(byo, "custom.pt"), "--map", "fc1", "--out", filepath.Join(dir, "m.safetensors")); code == 0 || !strings.Contains(errs, "--map: ") {
		t.Errorf("bad --map: exit %d: %s", code, errs)
	}
}

// TestExportKeysOfGeneratedWeights: generated weights record no source keys; --keys-from takes
// them from the imported zoo, and --keys source without them says what to do.
func TestExportKeysOfGeneratedWeights(t *testing.T) {
	dir := t.TempDir()
	zooPath := filepath.Join(dir, "zoo.safetensors")
	if code, _, errs := runCLI(t, "import", "--from", filepath.Join(byo, "custom.pt"), "--out", zooPath); code != 0 {
		t.Fatal(errs)
	}
	z, err := traj.ReadZoo(zooPath)
	if err != nil {
		t.Fatal(err)
	}
	meta := z.Meta
	meta.Extra = nil
	genPath := filepath.Join(dir, "gen.safetensors")
	if err := traj.WriteGenerated(genPath, &traj.Generated{Meta: meta, N: 1, P: z.Params, Weights: z.Weights}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "gen.pt")
	if code, _, errs := runCLI(t, "export", "--generated", genPath, "--keys", "source", "--out", out); code == 0 || !strings.Contains(errs, "--keys-from") {
		t.Errorf("--keys source without recorded keys: exit %d: %s", code, errs)
	}
	if code, _, errs := runCLI(t, "export", "--generated", genPath, "--keys-from", zooPath, "--index", "0", "--out", out); code != 0 {
		t.Fatalf("--keys-from: %s", errs)
	}
	if sd, err := interop.Read(out); err != nil || sd.Names[0] != "net.fc_in.weight" || sd.Names[3] != "classifier.bias" {
		t.Errorf("--keys-from: %v %v", sd, err)
	}
	if code, _, errs := runCLI(t, "export", "--generated", genPath, "--keys-from", filepath.Join(dir, "missing.safetensors"), "--out", out); code == 0 || !strings.Contains(errs, "--keys-from") {
		t.Errorf("missing --keys-from: exit %d: %s", code, errs)
	}
	// A zoo of another architecture has keys that do not fit.
	other := filepath.Join(dir, "other.safetensors")
	if code, _, errs := runCLI(t, "import", "--from", torchZoo, "--out", other); code != 0 {
		t.Fatal(errs)
	}
	if code, _, errs := runCLI(t, "export", "--generated", genPath, "--keys-from", other, "--out", out); code == 0 || !strings.Contains(errs, "do not fit") {
		t.Errorf("--keys-from of another architecture: exit %d: %s", code, errs)
	}
}

// TestImportGoMLXFolder: `nmflow import --from` a GoMLX checkpoint folder (the README's promise)
// maps it like any other file.
func TestImportGoMLXFolder(t *testing.T) {
	sd, err := interop.Read(filepath.Join(byo, "sequential.pt"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := interop.WriteGoMLX(filepath.Join(dir, "run", "ckpt"), sd); err != nil {
		t.Fatal(err)
	}
	zooPath := filepath.Join(dir, "zoo.safetensors")
	code, _, errs := runCLI(t, "import", "--from", filepath.Join(dir, "run"), "--out", zooPath)
	if code != 0 || !strings.Contains(errs, "0.weight [5 12] -> fc1.weight") {
		t.Fatalf("GoMLX folder: exit %d: %s", code, errs)
	}
	want, _ := interop.Read(filepath.Join(dir, "run"))
	z, err := traj.ReadZoo(zooPath)
	if err != nil {
		t.Fatal(err)
	}
	w, _, _ := interop.Float32s(want.Tensors["0.weight"])
	if z.Runs != 1 || z.At(0, 0)[59] != w[59] {
		t.Errorf("GoMLX folder: %d runs, weights differ", z.Runs)
	}
}
