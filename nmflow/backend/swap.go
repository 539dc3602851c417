package backend

import (
	"reflect"
	"runtime/debug"
	"unsafe"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
)

// What the kernel swaps of transpose.go, reduce.go, slice.go and unary.go share: mirrors of the pure-Go
// backend's internal types (github.com/gomlx/compute/internal/gobackend), reached by linkname,
// and the checks that a swap is made only where they are the types mirrored.

// dtypeMap mirrors gobackend.DTypeMap: an op's function per dtype.
type dtypeMap struct {
	name     string
	m        [32]any
	priority [32]int
}

// buffer mirrors gobackend.Buffer.
type buffer struct {
	backend   *struct{} // *gobackend.Backend, not read
	shape     shapes.Shape
	inUse     bool
	isUserFed bool
	rawBytes  []byte
	flat      any
}

// computeChecked is the github.com/gomlx/compute version whose executor table and node executor
// signature nodeExec mirrors (a table of plain functions carries no type to check).
const computeChecked = "v0.1.2"

// nodeExec has the layout and calling convention of gobackend.NodeExecutor: func(*Backend, *Node,
// []*Buffer, []bool) (*Buffer, error).
type nodeExec func(be, node unsafe.Pointer, inputs []*buffer, owned []bool) (*buffer, error)

//go:linkname nodeExecutors github.com/gomlx/compute/internal/gobackend.nodeExecutors
var nodeExecutors [compute.OpTypeLast]nodeExec

// installSwaps makes the kernel swaps that apply and lists them for the backend's name.
func installSwaps() string {
	var s string
	for _, sw := range []struct {
		name string
		ok   bool
	}{
		{"transpose", swapFloat32(transposeMap, transposeSignature, nil, transposeFn(transpose32), &transposeOrig)},
		{"sum", swapFloat32(reduceSumMap, reduceSignature, []reflect.Type{reflect.TypeFor[error]()}, reduceFn(sum32), &reduceOrig)},
		{"slice", swapFloat32(sliceMap, sliceSignature, nil, sliceFn(slice32), &sliceOrig)},
		{"sigmoid", swapLogistic()},
	} {
		if sw.ok {
			s += ", nmflow " + sw.name
		}
	}
	return s
}

// swapFloat32 puts ours in place of m's float32 function when that has the parameters and results
// given (pointers: to structs of the mirrors' layout), keeps the function it replaces in orig (for
// the cases ours leaves to it), and reports whether it did. F must be a func type with those
// mirrors: an interface holding a func keeps the function in its data word, so the entry keeps its
// dynamic type and GoMLX's type assertion still holds.
func swapFloat32[F any](m *dtypeMap, params, results []reflect.Type, ours F, orig *F) bool {
	if m == nil || !hasSignature(m.m[dtypes.Float32], params, results) {
		return false
	}
	words := (*[2]unsafe.Pointer)(unsafe.Pointer(&m.m[dtypes.Float32]))
	*(*unsafe.Pointer)(unsafe.Pointer(orig)) = words[1]
	words[1] = *(*unsafe.Pointer)(unsafe.Pointer(&ours))
	return true
}

// hasSignature reports whether f is a func with the parameters and results given: a pointer to a
// mirror matches a pointer to a struct of the mirror's layout, any other type only itself.
func hasSignature(f any, params, results []reflect.Type) bool {
	t := reflect.TypeOf(f)
	if t == nil || t.Kind() != reflect.Func || t.NumIn() != len(params) || t.NumOut() != len(results) {
		return false
	}
	match := func(got, want reflect.Type) bool {
		if want.Kind() == reflect.Pointer && want.Elem().Kind() == reflect.Struct && want.Elem().PkgPath() == reflect.TypeFor[buffer]().PkgPath() {
			return got.Kind() == reflect.Pointer && sameLayout(got.Elem(), want.Elem())
		}
		return got == want
	}
	for i, p := range params {
		if !match(t.In(i), p) {
			return false
		}
	}
	for i, r := range results {
		if !match(t.Out(i), r) {
			return false
		}
	}
	return true
}

// sameLayout compares two structs field by field: offset, kind, size, and the type itself where
// the mirror names an exported one (shapes.Shape).
func sameLayout(got, mirror reflect.Type) bool {
	if got.Kind() != reflect.Struct || got.NumField() != mirror.NumField() || got.Size() != mirror.Size() {
		return false
	}
	for i := range got.NumField() {
		g, m := got.Field(i), mirror.Field(i)
		if g.Offset != m.Offset || g.Type.Kind() != m.Type.Kind() || g.Type.Size() != m.Type.Size() {
			return false
		}
		if m.Type.PkgPath() != "" && g.Type != m.Type {
			return false
		}
		if k := m.Type.Kind(); (k == reflect.Slice || k == reflect.Pointer) && g.Type.Elem().Kind() != m.Type.Elem().Kind() {
			return false
		}
	}
	return true
}

// computeVersion is the version of github.com/gomlx/compute built into this binary ("" if the
// binary does not say: a test binary, where go.mod's decides; TestComputeVersion checks it).
func computeVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, d := range bi.Deps {
		if d.Path == "github.com/gomlx/compute" {
			if d.Replace != nil {
				return d.Replace.Version
			}
			return d.Version
		}
	}
	return ""
}
