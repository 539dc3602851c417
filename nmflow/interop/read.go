package interop

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/checkpoint"

	"github.com/nmflow/nmflow/nmflow/traj"
)

// Read reads a checkpoint in any supported format, told apart by content, not by extension:
// a PyTorch zip (torch.save), an .npz zip, an .npy array, a safetensors file, or a folder holding
// a GoMLX checkpoint (checkpoint-*.json + .bin, or such a folder's ckpt/ subfolder).
func Read(path string) (*StateDict, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("interop: %w", err)
	}
	if st.IsDir() {
		return ReadGoMLX(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("interop: %w", err)
	}
	head := make([]byte, 16)
	n, _ := io.ReadFull(f, head)
	f.Close()
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")) || bytes.HasPrefix(head, []byte("PK\x05\x06")):
		if isNpz(path) {
			return ReadNpz(path)
		}
		return ReadTorch(path)
	case n >= 2 && head[0] == 0x80 && head[1] <= 5: // a bare pickle: legacy torch.save
		return ReadTorch(path) // which says what to do about it
	case bytes.HasPrefix(head, npyMagic):
		return ReadNpy(path)
	case n >= 9 && head[8] == '{' && binary.LittleEndian.Uint64(head) < traj.MaxHeaderLen:
		return ReadSafetensors(path)
	}
	// Unrecognized content: let the extension pick the reader, whose error says what is wrong.
	switch strings.ToLower(filepath.Ext(path)) {
	case ".pt", ".pth", ".bin", ".ckpt":
		return ReadTorch(path)
	case ".npy":
		return ReadNpy(path)
	case ".npz":
		return ReadNpz(path)
	case ".safetensors":
		return ReadSafetensors(path)
	}
	return nil, fmt.Errorf("interop: %s is in no format nmflow reads (PyTorch .pt/.pth zip, safetensors, .npy, .npz, GoMLX checkpoint folder)", path)
}

// isNpz tells an .npz from a torch.save zip by its members: all NAME.npy.
func isNpz(path string) bool {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return false
	}
	defer zr.Close()
	for _, f := range zr.File {
		if !strings.HasSuffix(f.Name, ".npy") {
			return false
		}
	}
	return len(zr.File) > 0
}

// ReadSafetensors reads any safetensors file (Hugging Face style, an nmflow trajectory, ...).
// Its __metadata__ entries that parse as numbers become Scalars.
func ReadSafetensors(path string) (*StateDict, error) {
	ts, _, err := traj.ReadSafetensors(path)
	if err != nil {
		return nil, fmt.Errorf("interop: %w", err)
	}
	sd := newStateDict(FormatSafetensors, path)
	// File order (the structural mapping needs it) is the order of the data: the writer's order
	// for nmflow's files; Python's safetensors sorts by name, which natural order then refines
	// (fc2 before fc10).
	offset := safetensorsOffsets(path)
	names := sortedKeys(ts)
	sort.SliceStable(names, func(i, j int) bool {
		if oi, oj := offset[names[i]], offset[names[j]]; oi != oj {
			return oi < oj
		}
		return naturalLess(names[i], names[j])
	})
	for _, name := range names {
		_ = sd.Add(name, ts[name])
	}
	return sd, nil
}

// IsGoMLXCheckpoint reports whether dir holds a GoMLX checkpoint (checkpoint-*.json), itself or
// in its ckpt/ subfolder.
func IsGoMLXCheckpoint(dir string) bool {
	for _, d := range []string{dir, filepath.Join(dir, "ckpt")} {
		if m, _ := filepath.Glob(filepath.Join(d, "checkpoint-*.json")); len(m) > 0 && isDir(d) {
			return true
		}
	}
	return false
}

// safetensorsOffsets returns where each tensor's data starts in an (already validated)
// safetensors file; empty when the header cannot be read again.
func safetensorsOffsets(path string) map[string]int64 {
	out := map[string]int64{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	var n uint64
	if binary.Read(f, binary.LittleEndian, &n) != nil || n > traj.MaxHeaderLen {
		return out
	}
	head := make([]byte, n)
	if _, err := io.ReadFull(f, head); err != nil {
		return out
	}
	var entries map[string]json.RawMessage
	if json.Unmarshal(head, &entries) != nil {
		return out
	}
	for name, raw := range entries {
		var e struct {
			DataOffsets []int64 `json:"data_offsets"`
		}
		if json.Unmarshal(raw, &e) == nil && len(e.DataOffsets) == 2 {
			out[name] = e.DataOffsets[0]
		}
	}
	return out
}

// ReadGoMLX reads the latest GoMLX checkpoint in dir (or dir/ckpt): every variable, named by its
// scope path with dots ("/fc1/weight" → "fc1.weight").
func ReadGoMLX(dir string) (*StateDict, error) {
	if matches, _ := filepath.Glob(filepath.Join(dir, "checkpoint-*.json")); len(matches) == 0 {
		if sub := filepath.Join(dir, "ckpt"); isDir(sub) {
			return ReadGoMLX(sub)
		}
		return nil, fmt.Errorf("interop: %s holds no GoMLX checkpoint (checkpoint-*.json)", dir)
	}
	store := model.NewStore()
	if _, err := checkpoint.Load(store).Dir(dir).Immediate().Done(); err != nil {
		return nil, fmt.Errorf("interop: reading GoMLX checkpoint %s: %w", dir, err)
	}
	sd := newStateDict(FormatGoMLX, dir)
	var vars []*model.Variable
	for v := range store.IterVariables() {
		vars = append(vars, v)
	}
	// File order is the order the model created its variables (layer by layer, weights before
	// biases), which the structural mapping needs; the path order is the fallback.
	order := gomlxFileOrder(dir)
	rank := func(v *model.Variable) int {
		if r, ok := order[v.Path()]; ok {
			return r
		}
		return len(order)
	}
	sort.SliceStable(vars, func(i, j int) bool {
		if ri, rj := rank(vars[i]), rank(vars[j]); ri != rj {
			return ri < rj
		}
		return vars[i].Path() < vars[j].Path()
	})
	for _, v := range vars {
		val, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("interop: GoMLX checkpoint %s: variable %s: %w", dir, v.Path(), err)
		}
		dt, ok := gomlxDTypes[val.DType()]
		if !ok {
			continue // e.g. the RNG state (uint64): not a weight
		}
		var data []byte
		if err := val.ConstBytes(func(b []byte) { data = append([]byte(nil), b...) }); err != nil {
			return nil, fmt.Errorf("interop: GoMLX checkpoint %s: variable %s: %w", dir, v.Path(), err)
		}
		name := strings.ReplaceAll(strings.TrimPrefix(v.Path(), "/"), "/", ".")
		t := Tensor{DType: dt, Shape: append([]int{}, val.Shape().Dimensions...), Data: data}
		if len(t.Shape) == 0 { // global_step, a learning rate: numbers, not weights
			if x, _, err := Float32s(t); err == nil && len(x) == 1 {
				sd.Scalars[name] = float64(x[0])
			}
			continue
		}
		if err := sd.Add(name, t); err != nil {
			return nil, fmt.Errorf("interop: GoMLX checkpoint %s: %w", dir, err)
		}
		// The optimizer's and metrics' scopes are dicts of their own beside the model's variables.
		if top, _, _ := strings.Cut(name, "."); gomlxStateScopes[top] || strings.HasSuffix(top, "Optimizer") {
			if sd.Container == nil {
				sd.Container = map[string]string{}
			}
			sd.Container[name] = top + "."
		}
	}
	return sd, nil
}

// gomlxFileOrder returns the position of each variable path in the latest checkpoint-*.json of
// dir (the one checkpoint.Load reads), which lists them in the order the model created them.
func gomlxFileOrder(dir string) map[string]int {
	matches, _ := filepath.Glob(filepath.Join(dir, "checkpoint-*.json"))
	sort.Strings(matches)
	order := map[string]int{}
	if len(matches) == 0 {
		return order
	}
	b, err := os.ReadFile(matches[len(matches)-1])
	if err != nil {
		return order
	}
	var meta struct {
		Variables []struct{ ParameterName string }
	}
	if json.Unmarshal(b, &meta) != nil {
		return order
	}
	for i, v := range meta.Variables {
		if j := strings.Index(v.ParameterName, "/"); j >= 0 {
			order[v.ParameterName[j:]] = i
		}
	}
	return order
}

// gomlxStateScopes are the top scopes where GoMLX's trainer keeps state that is not the model's
// (optimizer.Scope, metric.Scope, train.AccumulatedGradientsScope, schedules); optimizers also
// use a scope named after themselves (AdamOptimizer).
var gomlxStateScopes = map[string]bool{"optimizers": true, "metrics": true, "acc_grads": true, "cosine_schedule": true}

// torchConventions returns sd with its weights in PyTorch's order, which Layouts use: a GoMLX
// checkpoint's layers.Dense and layers.Convolution "weights" are [in, out] and [kh, kw, in, out]
// (channels last), turned to [out, in] and [out, in, kh, kw]; the names turned are returned.
// Other formats already are in that order.
func torchConventions(sd *StateDict) (*StateDict, map[string]bool) {
	if sd.Format != FormatGoMLX {
		return sd, nil
	}
	out := *sd
	out.Tensors = make(map[string]Tensor, len(sd.Tensors))
	turned := map[string]bool{}
	for _, name := range sd.Names {
		t := sd.Tensors[name]
		if strings.HasSuffix(name, ".weights") && (len(t.Shape) == 2 || len(t.Shape) == 4) {
			perm := []int{1, 0}
			if len(t.Shape) == 4 {
				perm = []int{3, 2, 0, 1}
			}
			t = permute(t, perm)
			turned[name] = true
		}
		out.Tensors[name] = t
	}
	return &out, turned
}

// permute returns t with its axes reordered: axis i of the result is axis perm[i] of t.
func permute(t Tensor, perm []int) Tensor {
	esize, _ := traj.DTypeSize(t.DType)
	rank := len(t.Shape)
	shape := make([]int, rank)
	for i, p := range perm {
		shape[i] = t.Shape[p]
	}
	stride := make([]int, rank) // strides of t's axes, in elements
	acc := 1
	for d := rank - 1; d >= 0; d-- {
		stride[d], acc = acc, acc*t.Shape[d]
	}
	out := make([]byte, len(t.Data))
	idx := make([]int, rank)
	for e := range acc {
		src := 0
		for i, v := range idx {
			src += v * stride[perm[i]]
		}
		copy(out[e*esize:(e+1)*esize], t.Data[src*esize:(src+1)*esize])
		for i := rank - 1; i >= 0; i-- {
			if idx[i]++; idx[i] < shape[i] {
				break
			}
			idx[i] = 0
		}
	}
	return Tensor{DType: t.DType, Shape: shape, Data: out}
}

var gomlxDTypes = map[dtypes.DType]string{
	dtypes.Float32: traj.DTypeF32, dtypes.Float64: traj.DTypeF64, dtypes.Float16: traj.DTypeF16,
	dtypes.BFloat16: traj.DTypeBF16, dtypes.Int64: traj.DTypeI64, dtypes.Int32: traj.DTypeI32,
	dtypes.Int16: traj.DTypeI16, dtypes.Int8: traj.DTypeI8, dtypes.Uint8: traj.DTypeU8, dtypes.Bool: traj.DTypeBool,
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// naturalLess compares strings with digit runs as numbers ("fc2" < "fc10").
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digits(a), digits(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digits(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}
