package interop

import (
	"io"
	"math"
	"path/filepath"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/internal/testutil"
)

// The fixtures under testdata/ were made by testdata/make_fixtures.py with PyTorch 1.13.

// mlpSpec and cnnSpec are the fixtures' architectures.
var (
	mlpSpec = arch.MLP([]int{1, 4, 4}, 3, 8, 6)
	cnnSpec = arch.CNN([]int{1, 6, 6}, 3, []int{3}, 5)
)

func fixture(parts ...string) string { return filepath.Join(append([]string{"testdata"}, parts...)...) }

// mustMap reads a fixture and maps it onto spec's layout.
func mustMap(t *testing.T, path string, spec arch.Spec) ([]float32, *Report) {
	t.Helper()
	sd, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	flat, rep, err := Map(sd, arch.MustNew(spec).Layout(), MapOptions{Spec: &spec})
	if err != nil {
		t.Fatal(err)
	}
	return flat, rep
}

// npyFloats reads a float32 .npy fixture.
func npyFloats(t *testing.T, path string) ([]float32, []int) {
	t.Helper()
	sd, err := ReadNpy(path)
	if err != nil {
		t.Fatal(err)
	}
	tt := sd.Tensors[sd.Names[0]]
	v, _, err := Float32s(tt)
	if err != nil {
		t.Fatal(err)
	}
	return v, tt.Shape
}

// logits runs the nmflow net with weights flat (one model) on x ([B, input...]) → [B, C].
func logits(t *testing.T, spec arch.Spec, flat, x []float32, xshape []int) []float32 {
	t.Helper()
	backend.Notice = io.Discard
	be, _, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	net := arch.MustNew(spec)
	fwd := MustNewExec(be, net.Forward)
	out := fwd.MustExec1(tensors.FromFlatDataAndDimensions(flat, 1, len(flat)), tensors.FromFlatDataAndDimensions(x, xshape...))
	return tensors.MustCopyFlatData[float32](out)
}

func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

var sameBits = testutil.SameBits // bitwise equality of float32 slices
