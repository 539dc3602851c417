package interop

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/checkpoint"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// TestAssembleTorchZoo: the PyTorch zoo fixture (3 runs × epochs 0..3) becomes a valid
// trajectory file with runs and checkpoints in order and the saved metrics.
func TestAssembleTorchZoo(t *testing.T) {
	z, rep, err := AssembleZoo(fixture("torchzoo"), AssembleOptions{Spec: mlpSpec, Init: arch.InitPyTorch, Dataset: "toy", StepsPerEpoch: 6})
	if err != nil {
		t.Fatal(err)
	}
	if z.Runs != 3 || z.Checkpoints != 4 || z.Params != arch.MustNew(mlpSpec).Layout().Size() {
		t.Fatalf("zoo R=%d K+1=%d P=%d", z.Runs, z.Checkpoints, z.Params)
	}
	if !reflect.DeepEqual(z.Steps, []int64{0, 6, 12, 18}) || rep.Pattern != "run{run}/epoch{epoch}.*" || rep.Files != 12 {
		t.Errorf("steps %v pattern %s files %d", z.Steps, rep.Pattern, rep.Files)
	}
	if !reflect.DeepEqual(rep.Metrics, []string{"test_acc", "train_loss"}) || rep.First.Prefix != "model." {
		t.Errorf("metrics %v prefix %q", rep.Metrics, rep.First.Prefix)
	}
	// Checkpoint (run 1, epoch 2) is exactly that file's weights, and its metric is that file's.
	want, _ := mustMap(t, fixture("torchzoo", "run1", "epoch2.pt"), mlpSpec)
	if !sameBits(z.At(1, 2), want) {
		t.Error("run 1 epoch 2 is not run1/epoch2.pt")
	}
	sd, _ := Read(fixture("torchzoo", "run1", "epoch2.pt"))
	if got := z.Metric("test_acc", 1, 2); got != float32(sd.Scalars["test_acc"]) {
		t.Errorf("test_acc %v, file has %v", got, sd.Scalars["test_acc"])
	}
	// Training did something: accuracy rose and loss fell in every run.
	for r := 0; r < 3; r++ {
		if z.Metric("train_loss", r, 3) >= z.Metric("train_loss", r, 0) {
			t.Errorf("run %d: loss did not fall", r)
		}
	}
	path := filepath.Join(t.TempDir(), "zoo.safetensors")
	if err := traj.WriteZoo(path, z); err != nil {
		t.Fatal(err)
	}
	back, err := traj.ReadZoo(path)
	if err != nil || back.Meta.Init != arch.InitPyTorch || back.Meta.Extra["steps_unit"] != "training steps (epoch × 6)" {
		t.Fatalf("written zoo: %v %+v", err, back.Meta.Extra)
	}
}

// copyTree copies the zoo fixture so a test can damage it.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestAssembleErrors(t *testing.T) {
	opt := AssembleOptions{Spec: mlpSpec}
	dir := copyTree(t, fixture("torchzoo"))
	os.Remove(filepath.Join(dir, "run2", "epoch1.pt"))
	if _, _, err := AssembleZoo(dir, opt); err == nil || !strings.Contains(err.Error(), "run 2 lacks epoch 1") {
		t.Errorf("missing checkpoint: %v", err)
	}
	dir = copyTree(t, fixture("torchzoo"))
	os.Rename(filepath.Join(dir, "run2", "epoch1.pt"), filepath.Join(dir, "run2", "final.pt"))
	if _, _, err := AssembleZoo(dir, opt); err == nil || !strings.Contains(err.Error(), "final.pt does not match") {
		t.Errorf("stray checkpoint: %v", err)
	}
	dir = copyTree(t, fixture("torchzoo"))
	os.WriteFile(filepath.Join(dir, "run0", "epoch1.pth"), []byte("x"), 0o644)
	if _, _, err := AssembleZoo(dir, opt); err == nil || !strings.Contains(err.Error(), "two files for epoch 1") {
		t.Errorf("duplicate checkpoint: %v", err)
	}
	wrong := opt
	wrong.Spec = arch.MLP([]int{1, 4, 4}, 3, 9, 6)
	if _, _, err := AssembleZoo(fixture("torchzoo"), wrong); err == nil || !strings.Contains(err.Error(), "mis-shaped") {
		t.Errorf("wrong architecture: %v", err)
	}
	for _, p := range []string{"run{run}.pt", "run{run}/epoch{epoch}/{step}.pt", "run{x}/{epoch}", "run{run/{epoch}"} {
		o := opt
		o.Pattern = p
		if _, _, err := AssembleZoo(fixture("torchzoo"), o); err == nil || !strings.Contains(err.Error(), "pattern") {
			t.Errorf("pattern %q: %v", p, err)
		}
	}
	if _, _, err := AssembleZoo(fixture("torch"), opt); err == nil || !strings.Contains(err.Error(), "no checkpoint file") {
		t.Errorf("folder without a zoo: %v", err)
	}
	if _, _, err := AssembleZoo(fixture("nonexistent"), opt); err == nil || !strings.Contains(err.Error(), "not a folder") {
		t.Errorf("missing folder: %v", err)
	}
	// A custom pattern works on a flat layout.
	flat := t.TempDir()
	for _, f := range []string{"run0/epoch0.pt", "run0/epoch3.pt", "run1/epoch0.pt", "run1/epoch3.pt"} {
		b, _ := os.ReadFile(fixture("torchzoo", f))
		os.WriteFile(filepath.Join(flat, "m"+strings.ReplaceAll(strings.TrimSuffix(f, ".pt"), "/", "-")+".ckpt"), b, 0o644)
	}
	o := opt
	o.Pattern = "mrun{run}-epoch{step}.ckpt"
	z, _, err := AssembleZoo(flat, o)
	if err != nil || z.Runs != 2 || !reflect.DeepEqual(z.Steps, []int64{0, 3}) {
		t.Errorf("custom pattern: %v", err)
	}
}

// TestImportFileStacked: weights exported stacked as [R, K+1, ...] import back as a zoo.
func TestImportFileStacked(t *testing.T) {
	z, _, err := AssembleZoo(fixture("torchzoo"), AssembleOptions{Spec: mlpSpec})
	if err != nil {
		t.Fatal(err)
	}
	l := arch.MustNew(mlpSpec).Layout()
	for _, format := range ExportFormats() {
		sd, err := FromFlat(l, z.Weights, []int{z.Runs, z.Checkpoints}, nil)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "zoo."+format)
		if err := Write(path, format, sd, nil); err != nil {
			t.Fatal(err)
		}
		back, rep, err := ImportFile(path, AssembleOptions{Spec: mlpSpec})
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if back.Runs != 3 || back.Checkpoints != 4 || !sameBits(back.Weights, z.Weights) || !reflect.DeepEqual(rep.Lead, []int{3, 4}) {
			t.Errorf("%s: imported R=%d K+1=%d lead %v", format, back.Runs, back.Checkpoints, rep.Lead)
		}
	}
	if err := Write(filepath.Join(t.TempDir(), "x"), "onnx", &StateDict{}, nil); err == nil {
		t.Error("unknown export format accepted")
	}
	one, _, err := ImportFile(fixture("torch", "mlp.pt"), AssembleOptions{Spec: mlpSpec})
	if err != nil || one.Runs != 1 || one.Checkpoints != 1 {
		t.Errorf("single state dict: %v", err)
	}
}

// TestReadGoMLX: a GoMLX checkpoint of an MLP's variables maps onto the Layout.
func TestReadGoMLX(t *testing.T) {
	ref, _ := mustMap(t, fixture("torch", "mlp.pt"), mlpSpec)
	l := arch.MustNew(mlpSpec).Layout()
	store := model.NewStore()
	for _, s := range l.Segments {
		module, param, _ := strings.Cut(s.Name, ".")
		v := tensors.FromFlatDataAndDimensions(append([]float32(nil), ref[s.Offset:s.Offset+s.Size()]...), s.Shape...)
		if _, err := store.CreateVariable("/model/"+module+"/"+param, v); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	h, err := checkpoint.Build(store).Dir(filepath.Join(dir, "ckpt")).Done()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Save(); err != nil {
		t.Fatal(err)
	}
	sd, err := Read(dir) // finds dir/ckpt
	if err != nil {
		t.Fatal(err)
	}
	got, rep, err := Map(sd, l, MapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sd.Format != FormatGoMLX || rep.Prefix != "model." || !sameBits(got, ref) {
		t.Errorf("GoMLX checkpoint: format %s prefix %q", sd.Format, rep.Prefix)
	}
	if _, err := ReadGoMLX(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no GoMLX checkpoint") {
		t.Errorf("empty folder: %v", err)
	}
}
