package traj

import (
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nmflow/nmflow/nmflow"
	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/internal/testutil"
)

var sameBits = testutil.SameBits // bitwise equality of float32 slices

func TestZooRoundTrip(t *testing.T) {
	path := tempPath(t, "zoo.safetensors")
	z := testZoo(3, 4)
	want := testZoo(3, 4) // untouched copy: Write must not change the data
	if err := WriteZoo(path, z); err != nil {
		t.Fatal(err)
	}
	if z.Meta.Format != FormatName || z.Meta.FormatVersion != FormatVersion || z.Meta.Kind != KindZoo ||
		z.Meta.NmflowVersion != nmflow.Version || z.Meta.GoMLXVersion != nmflow.GoMLXVersion {
		t.Errorf("WriteZoo did not fill meta: %+v", z.Meta)
	}
	if c, err := time.Parse(time.RFC3339, z.Meta.Created); err != nil || c.Location() != time.UTC || time.Since(c) > time.Hour {
		t.Errorf("Created = %q (%v), want a recent UTC RFC 3339 time", z.Meta.Created, err)
	}
	got, err := ReadZoo(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Meta, z.Meta) {
		t.Errorf("meta differs:\n got %+v\nwant %+v", got.Meta, z.Meta)
	}
	if got.Meta.Seed != 1<<63+5 {
		t.Errorf("seed = %d, lost precision", got.Meta.Seed)
	}
	if got.Runs != 3 || got.Checkpoints != 4 || got.Params != 23 {
		t.Errorf("sizes R=%d K+1=%d P=%d, want 3 4 23", got.Runs, got.Checkpoints, got.Params)
	}
	if !sameBits(got.Weights, want.Weights) {
		t.Error("weights are not bit-identical")
	}
	if math.Float32bits(got.Weights[0]) != 1<<31 || got.Weights[1] != math.SmallestNonzeroFloat32 {
		t.Error("negative zero or subnormal not preserved")
	}
	if !reflect.DeepEqual(got.Steps, want.Steps) {
		t.Errorf("steps = %v, want %v", got.Steps, want.Steps)
	}
	if len(got.Metrics) != 3 {
		t.Errorf("metrics = %v", got.Metrics)
	}
	for name, m := range want.Metrics {
		if !sameBits(got.Metrics[name], m) {
			t.Errorf("metric %q differs", name)
		}
	}
	if got.Metric(MetricTestAcc, 2, 3) != want.Metric(MetricTestAcc, 2, 3) {
		t.Error("Metric accessor disagrees")
	}

	// A second write of what was read gives the same bytes' meaning (Created is kept).
	path2 := tempPath(t, "zoo2.safetensors")
	if err := WriteZoo(path2, got); err != nil {
		t.Fatal(err)
	}
	again, err := ReadZoo(path2)
	if err != nil || !reflect.DeepEqual(again, got) {
		t.Errorf("re-write changed the zoo: %v", err)
	}

	// Plain-string metadata for tools that do not parse the JSON.
	_, meta, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"format": "nmflow.trajectories", "format_version": "1", "kind": "zoo", "arch": "mlp 4-3-2",
		"dataset": "toy", "seed": "9223372036854775813", "backend": "xla:cpu", "nmflow_version": nmflow.Version,
		"created": z.Meta.Created,
	} {
		if meta[k] != v {
			t.Errorf("__metadata__[%q] = %q, want %q", k, meta[k], v)
		}
	}
	if !strings.Contains(meta["nmflow"], `"segments":[{"name":"fc1.weight","shape":[3,4],"fan_in":4,"kind":"weight","offset":0}`) {
		t.Errorf("nmflow JSON lacks the layout: %s", meta["nmflow"])
	}

	m, err := ReadMeta(path)
	if err != nil || !reflect.DeepEqual(m, z.Meta) {
		t.Errorf("ReadMeta = %+v, %v", m, err)
	}
}

func TestZooWithoutMetrics(t *testing.T) {
	path := tempPath(t, "zoo.safetensors")
	z := testZoo(1, 1)
	z.Metrics = nil
	z.Meta.Created = "2020-01-02T03:04:05Z"
	if err := WriteZoo(path, z); err != nil {
		t.Fatal(err)
	}
	got, err := ReadZoo(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Meta.Created != "2020-01-02T03:04:05Z" {
		t.Errorf("Created overwritten: %q", got.Meta.Created)
	}
	if got.Metrics == nil || len(got.Metrics) != 0 {
		t.Errorf("metrics = %#v, want an empty map", got.Metrics)
	}
}

func TestGeneratedRoundTrip(t *testing.T) {
	path := tempPath(t, "gen.safetensors")
	g := testGenerated(5)
	want := testGenerated(5)
	if err := WriteGenerated(path, g); err != nil {
		t.Fatal(err)
	}
	got, err := ReadGenerated(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Meta.Kind != KindGenerated || !reflect.DeepEqual(got.Meta, g.Meta) {
		t.Errorf("meta differs:\n got %+v\nwant %+v", got.Meta, g.Meta)
	}
	if got.N != 5 || got.P != 23 || !sameBits(got.Weights, want.Weights) {
		t.Errorf("N=%d P=%d, weights bit-identical: %v", got.N, got.P, sameBits(got.Weights, want.Weights))
	}
	if !sameBits(got.Row(4), want.Weights[4*23:]) {
		t.Error("Row(4) wrong")
	}
}

func TestReadWeights(t *testing.T) {
	zpath, gpath := tempPath(t, "zoo.safetensors"), tempPath(t, "gen.safetensors")
	z, g := testZoo(2, 3), testGenerated(4)
	if err := WriteZoo(zpath, z); err != nil {
		t.Fatal(err)
	}
	if err := WriteGenerated(gpath, g); err != nil {
		t.Fatal(err)
	}
	w, n, p, meta, err := ReadWeights(zpath)
	if err != nil || n != 6 || p != 23 || meta.Kind != KindZoo {
		t.Fatalf("zoo: n=%d p=%d kind=%q err=%v", n, p, meta.Kind, err)
	}
	for r := 0; r < 2; r++ {
		for k := 0; k < 3; k++ {
			row := r*3 + k
			if !sameBits(w[row*p:(row+1)*p], z.At(r, k)) {
				t.Errorf("row %d is not run %d checkpoint %d", row, r, k)
			}
		}
	}
	w, n, p, meta, err = ReadWeights(gpath)
	if err != nil || n != 4 || p != 23 || meta.Kind != KindGenerated || !sameBits(w, g.Weights) {
		t.Fatalf("generated: n=%d p=%d kind=%q err=%v", n, p, meta.Kind, err)
	}
}

func TestWrongKind(t *testing.T) {
	zpath, gpath := tempPath(t, "zoo.safetensors"), tempPath(t, "gen.safetensors")
	if err := WriteZoo(zpath, testZoo(1, 2)); err != nil {
		t.Fatal(err)
	}
	if err := WriteGenerated(gpath, testGenerated(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadZoo(gpath); err == nil || !strings.Contains(err.Error(), "file "+gpath+" holds generated weights (written by 'nmflow sample'), not a zoo") {
		t.Errorf("ReadZoo(generated): %v", err)
	}
	if _, err := ReadGenerated(zpath); err == nil || !strings.Contains(err.Error(), "file "+zpath+" holds a zoo (written by 'nmflow zoo' or 'nmflow import'), not generated weights") {
		t.Errorf("ReadGenerated(zoo): %v", err)
	}
}

// rewrite reads a valid file's tensors and metadata, lets edit corrupt them, and writes them back
// with the plain safetensors writer, to produce files WriteZoo would refuse to write.
func rewrite(t *testing.T, src string, edit func(tensors map[string]Tensor, meta map[string]string)) string {
	t.Helper()
	tensors, meta, err := ReadSafetensors(src)
	if err != nil {
		t.Fatal(err)
	}
	edit(tensors, meta)
	dst := tempPath(t, "edited.safetensors")
	if err := WriteSafetensors(dst, tensors, nil, meta); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestReadZooRejects(t *testing.T) {
	src := tempPath(t, "zoo.safetensors")
	z := testZoo(2, 3)
	if err := WriteZoo(src, z); err != nil {
		t.Fatal(err)
	}
	nan := float32(math.NaN())
	cases := []struct {
		name string
		edit func(tensors map[string]Tensor, meta map[string]string)
		want string
	}{
		{"NaN weight", func(ts map[string]Tensor, _ map[string]string) {
			w, _ := ts["weights"].Float32s()
			w[(1*3+2)*23+5] = nan // run 1, checkpoint 2, param 5 = fc1.weight[1,1]
			w[(1*3+2)*23+6] = nan
			ts["weights"] = F32Tensor(ts["weights"].Shape, w)
		}, "weight at run 1, checkpoint 2, param 5 (fc1.weight[1,1]) is NaN"},
		{"Inf weight", func(ts map[string]Tensor, _ map[string]string) {
			w, _ := ts["weights"].Float32s()
			w[22] = float32(math.Inf(-1))
			ts["weights"] = F32Tensor(ts["weights"].Shape, w)
		}, "run 0, checkpoint 0, param 22 (fc2.bias[1]) is -Inf"},
		{"layout mismatch", func(ts map[string]Tensor, _ map[string]string) {
			ts["weights"] = F32Tensor([]int{2, 3, 22}, make([]float32, 2*3*22))
		}, "layout describes P=23 parameters, weights have P=22"},
		{"metric shape", func(ts map[string]Tensor, _ map[string]string) {
			ts["test_acc"] = F32Tensor([]int{3, 2}, make([]float32, 6))
		}, `metric "test_acc" is F32 [3 2], want F32 [R, K+1] = [2, 3]`},
		{"metric dtype", func(ts map[string]Tensor, _ map[string]string) {
			ts["train_loss"] = I64Tensor([]int{2, 3}, make([]int64, 6))
		}, `metric "train_loss" is I64 [2 3]`},
		{"weights rank", func(ts map[string]Tensor, _ map[string]string) {
			ts["weights"] = F32Tensor([]int{6, 23}, make([]float32, 6*23))
		}, `tensor "weights" is F32 [6 23], want F32 [R, K+1, P]`},
		{"steps length", func(ts map[string]Tensor, _ map[string]string) {
			ts["steps"] = I64Tensor([]int{2}, []int64{0, 1})
		}, `tensor "steps" is I64 [2], want I64 [K+1] = [3]`},
		{"steps decreasing", func(ts map[string]Tensor, _ map[string]string) {
			ts["steps"] = I64Tensor([]int{3}, []int64{0, 5, 5})
		}, "steps must be non-negative and increasing, got [0 5 5]"},
		{"missing weights", func(ts map[string]Tensor, _ map[string]string) { delete(ts, "weights") }, `missing tensor "weights"`},
		{"missing steps", func(ts map[string]Tensor, _ map[string]string) { delete(ts, "steps") }, `missing tensor "steps"`},
		{"run seeds", func(_ map[string]Tensor, m map[string]string) {
			m["nmflow"] = strings.Replace(m["nmflow"], `"run_seeds":[100,101]`, `"run_seeds":[100]`, 1)
		}, "meta has 1 run seeds for R=2 runs"},
		{"newer version", func(_ map[string]Tensor, m map[string]string) { m["format_version"] = "2" },
			"has format_version 2, newer than this nmflow reads (1): upgrade nmflow"},
		{"bad version", func(_ map[string]Tensor, m map[string]string) { m["format_version"] = "one" }, `invalid format_version "one"`},
		{"foreign format", func(_ map[string]Tensor, m map[string]string) { m["format"] = "pt" }, `has format "pt", want "nmflow.trajectories"`},
		{"no format", func(_ map[string]Tensor, m map[string]string) { delete(m, "format") }, "is not an nmflow trajectory file"},
		{"unknown kind", func(_ map[string]Tensor, m map[string]string) { m["kind"] = "flow" }, `unknown kind "flow"`},
		{"no JSON", func(_ map[string]Tensor, m map[string]string) { delete(m, "nmflow") }, `has no "nmflow" metadata`},
		{"bad JSON", func(_ map[string]Tensor, m map[string]string) { m["nmflow"] = "{" }, `invalid "nmflow" metadata`},
		{"inconsistent", func(_ map[string]Tensor, m map[string]string) {
			m["nmflow"] = strings.Replace(m["nmflow"], `"kind":"zoo"`, `"kind":"generated"`, 1)
		}, "inconsistent metadata"},
		{"invalid layout", func(_ map[string]Tensor, m map[string]string) {
			m["nmflow"] = strings.Replace(m["nmflow"], `"offset":12`, `"offset":13`, 1)
		}, `layout segment "fc1.bias" starts at 13, want 12`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := rewrite(t, src, c.edit)
			_, err := ReadZoo(path)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v\nwant it to name the file and contain %q", err, c.want)
			}
			if _, _, _, _, err2 := ReadWeights(path); err2 == nil {
				t.Fatalf("ReadWeights accepted what ReadZoo rejects")
			}
		})
	}
}

func TestReadGeneratedRejects(t *testing.T) {
	src := tempPath(t, "gen.safetensors")
	if err := WriteGenerated(src, testGenerated(3)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		edit func(tensors map[string]Tensor, meta map[string]string)
		want string
	}{
		{"NaN", func(ts map[string]Tensor, _ map[string]string) {
			w, _ := ts["weights"].Float32s()
			w[2*23+20] = float32(math.NaN())
			ts["weights"] = F32Tensor(ts["weights"].Shape, w)
		}, "weight at net 2, param 20 (fc2.weight[1,2]) is NaN"},
		{"layout mismatch", func(ts map[string]Tensor, _ map[string]string) {
			ts["weights"] = F32Tensor([]int{3, 24}, make([]float32, 3*24))
		}, "layout describes P=23 parameters, weights have P=24"},
		{"extra tensor", func(ts map[string]Tensor, _ map[string]string) { ts["steps"] = I64Tensor([]int{1}, []int64{0}) },
			`unexpected tensor "steps"`},
		{"missing weights", func(ts map[string]Tensor, _ map[string]string) { delete(ts, "weights") }, `missing tensor "weights"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := rewrite(t, src, c.edit)
			_, err := ReadGenerated(path)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v\nwant it to name the file and contain %q", err, c.want)
			}
		})
	}
}

func TestWriteRejects(t *testing.T) {
	cases := []struct {
		name  string
		write func(path string) error
		want  string
	}{
		{"NaN weight", func(p string) error {
			z := testZoo(2, 3)
			z.At(1, 2)[5] = float32(math.NaN())
			return WriteZoo(p, z)
		}, "weight at run 1, checkpoint 2, param 5 (fc1.weight[1,1]) is NaN"},
		{"layout mismatch", func(p string) error {
			z := testZoo(1, 1)
			z.Meta.Layout.Segments = z.Meta.Layout.Segments[:3]
			return WriteZoo(p, z)
		}, "layout describes P=21 parameters, weights have P=23"},
		{"no layout", func(p string) error {
			g := testGenerated(1)
			g.Meta.Layout = testGenerated(1).Meta.Layout
			g.Meta.Layout.Segments = nil
			return WriteGenerated(p, g)
		}, "meta.Layout is required and must be valid: arch: layout has no segments"},
		{"sizes", func(p string) error {
			z := testZoo(2, 2)
			z.Weights = z.Weights[1:]
			return WriteZoo(p, z)
		}, "zoo weights have 91 values, want R*(K+1)*P = 92"},
		{"steps", func(p string) error {
			z := testZoo(1, 2)
			z.Steps = []int64{3, 1}
			return WriteZoo(p, z)
		}, "steps must be non-negative and increasing"},
		{"metric name", func(p string) error {
			z := testZoo(1, 2)
			z.Metrics["weights"] = make([]float32, 2)
			return WriteZoo(p, z)
		}, `invalid metric name "weights"`},
		{"metric size", func(p string) error {
			z := testZoo(1, 2)
			z.Metrics["x"] = make([]float32, 3)
			return WriteZoo(p, z)
		}, `metric "x" has 3 values, want R*(K+1) = 2`},
		{"generated NaN", func(p string) error {
			g := testGenerated(2)
			g.Row(1)[0] = float32(math.Inf(1))
			return WriteGenerated(p, g)
		}, "weight at net 1, param 0 (fc1.weight[0,0]) is +Inf"},
		{"generated sizes", func(p string) error {
			g := testGenerated(2)
			g.N = 3
			return WriteGenerated(p, g)
		}, "generated weights have 46 values, want N*P = 69"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := tempPath(t, "w.safetensors")
			err := c.write(path)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v\nwant it to name the file and contain %q", err, c.want)
			}
		})
	}
}

// An arch that contradicts the layout (edited metadata claiming 2^40 hidden units) must not pass
// to fit, sample or export: every reader checks one against the other.
func TestArchContradictingLayoutIsRefusedOnRead(t *testing.T) {
	for name, a := range map[string]arch.Spec{"hidden 2^40": arch.MLP([]int{4}, 2, 1<<40), "3 classes": arch.MLP([]int{4}, 3, 3), "cnn": arch.CNN([]int{1, 8, 8}, 2, []int{2}, 3)} {
		path := tempPath(t, "zoo.safetensors")
		z := testZoo(2, 2)
		z.Meta.Arch = a
		if err := WriteZoo(path, z); err != nil {
			t.Fatal(err)
		}
		for what, read := range map[string]func() error{
			"ReadZoo":  func() error { _, err := ReadZoo(path); return err },
			"ReadMeta": func() error { _, err := ReadMeta(path); return err },
		} {
			if err := read(); err == nil || !strings.Contains(err.Error(), "contradictory metadata") {
				t.Errorf("%s, %s: got %v", name, what, err)
			}
		}
	}
}

// A flipped bit that leaves every value finite would otherwise change results silently.
func TestFlippedByteIsCaughtOnRead(t *testing.T) {
	zpath, gpath := tempPath(t, "zoo.safetensors"), tempPath(t, "gen.safetensors")
	if err := WriteZoo(zpath, testZoo(2, 3)); err != nil {
		t.Fatal(err)
	}
	if err := WriteGenerated(gpath, testGenerated(3)); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{zpath, gpath} {
		if _, _, _, _, err := ReadWeights(path); err != nil {
			t.Fatalf("intact %s: %v", path, err)
		}
		b, _ := os.ReadFile(path)
		b[len(b)-8] ^= 1 // the lowest mantissa bit of a value near the end: still finite
		os.WriteFile(path, b, 0o644)
		if _, _, _, _, err := ReadWeights(path); err == nil || !strings.Contains(err.Error(), "is corrupt") {
			t.Errorf("%s with a flipped bit: %v", path, err)
		}
	}
	if _, err := ReadZoo(zpath); err == nil || !strings.Contains(err.Error(), "is corrupt") {
		t.Errorf("ReadZoo: %v", err)
	}
	if _, err := ReadGenerated(gpath); err == nil || !strings.Contains(err.Error(), "is corrupt") {
		t.Errorf("ReadGenerated: %v", err)
	}
}
