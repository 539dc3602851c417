package interop

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/nmflow/nmflow/nmflow/traj"
)

// PyTorch files: torch.save (PyTorch ≥ 1.6) writes a zip archive whose single top folder holds
// data.pkl (a protocol-2 pickle of the saved object), data/<key> (the raw bytes of each tensor
// storage, little-endian) and version. Tensors appear in the pickle as
// torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks), the
// storage as a persistent id ("storage", torch.FloatStorage, key, location, numel).

// Limits that keep a corrupt or hostile file from making the reader allocate without bound.
const (
	maxPickleBytes = 256 << 20 // data.pkl of a state dict is kilobytes; 256 MiB is generous
	// A tensor view may not hold more elements than its storage (that needs overlapping strides,
	// e.g. expand()), and all views together at most viewBudget times the storages' bytes.
	viewBudget = 4
)

// torch storage classes and the safetensors dtype of their elements.
var torchStorages = map[string]string{
	"FloatStorage": traj.DTypeF32, "DoubleStorage": traj.DTypeF64, "HalfStorage": traj.DTypeF16,
	"BFloat16Storage": traj.DTypeBF16, "LongStorage": traj.DTypeI64, "IntStorage": traj.DTypeI32,
	"ShortStorage": traj.DTypeI16, "CharStorage": traj.DTypeI8, "ByteStorage": traj.DTypeU8,
	"BoolStorage": traj.DTypeBool,
}

// torchStorageOf is the inverse, for writing.
func torchStorageOf(dtype string) (string, bool) {
	for k, v := range torchStorages {
		if v == dtype {
			return k, true
		}
	}
	return "", false
}

type torchStorage struct {
	dtype string
	numel int64
	data  []byte
}

type torchTensor struct{ t Tensor }

// ReadTorch reads a PyTorch checkpoint written by torch.save: a state_dict, or any nesting of
// dicts and lists around tensors ({"state_dict": ..., "optimizer": ..., "epoch": 3}). Tensors are
// named by their dotted path ("state_dict.fc1.weight"); numbers become StateDict.Scalars.
func ReadTorch(path string) (*StateDict, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("interop: %w", err)
	}
	sd, err := parseTorch(b)
	var whole *wholeModuleError
	if errors.As(err, &whole) {
		return nil, fmt.Errorf("interop: %s holds a whole pickled module (%s), not a state_dict: save net.state_dict() instead, e.g. torch.save(net.state_dict(), path) (nmflow never unpickles Python objects)", path, whole.class)
	}
	if err != nil {
		return nil, fmt.Errorf("interop: %s is not a readable PyTorch checkpoint: %w", path, err)
	}
	sd.Path = path
	return sd, nil
}

// wholeModuleError: the file is torch.save(net), a pickled nn.Module, which only Python can
// rebuild (by running the module's code).
type wholeModuleError struct{ class pyGlobal }

func (e *wholeModuleError) Error() string {
	return fmt.Sprintf("a whole pickled module (%s): save net.state_dict() instead", e.class)
}

// isTorchModule tells an nn.Module apart: torch's own module classes by name, any other class (a
// user's Net in __main__) by the state an nn.Module pickles (_parameters, _modules).
func isTorchModule(g pyGlobal, state any) bool {
	if strings.HasPrefix(g.module, "torch.nn.modules.") || strings.HasPrefix(g.module, "torch.nn.parallel.") {
		return true
	}
	if d, ok := state.(*pyDict); ok {
		for _, k := range []string{"_parameters", "_modules"} {
			if _, has := d.index[k]; has {
				return true
			}
		}
	}
	return false
}

// legacyMagic starts a pre-1.6 torch.save file (a pickled magic number, not a zip).
var legacyMagic = []byte{0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19}

func parseTorch(b []byte) (*StateDict, error) {
	if bytes.HasPrefix(b, legacyMagic) {
		return nil, fmt.Errorf("legacy (PyTorch < 1.6) serialization: load and re-save it with a newer PyTorch (torch.save(torch.load(f), f))")
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, fmt.Errorf("not a zip archive (%v)", err)
	}
	prefix, records, err := torchRecords(zr)
	if err != nil {
		return nil, err
	}
	pkl, ok := records[prefix+"data.pkl"]
	if !ok {
		if _, ts := records[prefix+"constants.pkl"]; ts {
			return nil, fmt.Errorf("a TorchScript archive (torch.jit.save), not torch.save: save model.state_dict() with torch.save instead")
		}
		return nil, fmt.Errorf("archive has no %sdata.pkl (not written by torch.save?)", prefix)
	}
	raw, err := readRecord(pkl, maxPickleBytes)
	if err != nil {
		return nil, err
	}
	storages := map[string]*torchStorage{}
	var storageBytes, viewBytes int64
	// The VM builds modules as inert objects (no Python runs), and their weights are not read:
	// a file that holds one where its weights should be is refused with the fix.
	var module *pyGlobal
	u := &unpickler{data: raw, vet: func(g pyGlobal, state any) error {
		if module == nil && isTorchModule(g, state) {
			module = &g
		}
		return nil
	}}
	u.persistentLoad = func(pid any) (any, error) {
		t, ok := pid.(pyTuple)
		if !ok || len(t) < 5 {
			return nil, fmt.Errorf("persistent id is a %s, want ('storage', class, key, location, numel)", typeName(pid))
		}
		kind, _ := t[0].(string)
		cls, okc := t[1].(pyGlobal)
		key, okk := t[2].(string)
		numel, okn := t[4].(int64)
		if kind != "storage" || !okc || !okk || !okn || numel < 0 {
			return nil, fmt.Errorf("malformed storage id %v", t)
		}
		dtype, ok := torchStorages[cls.name]
		if !ok || (cls.module != "torch" && cls.module != "torch.cuda") {
			return nil, fmt.Errorf("storage class %s is not supported (want a float, int or bool storage)", cls)
		}
		if s, seen := storages[key]; seen {
			if s.dtype != dtype || s.numel != numel {
				return nil, fmt.Errorf("storage %q is used as %s[%d] and %s[%d]", key, s.dtype, s.numel, dtype, numel)
			}
			return s, nil
		}
		size, _ := traj.DTypeSize(dtype)
		if numel > int64(len(b))/int64(size) {
			return nil, fmt.Errorf("storage %q claims %d elements, more than the %d-byte file can hold", key, numel, len(b))
		}
		f, ok := records[prefix+"data/"+key]
		if !ok {
			return nil, fmt.Errorf("storage %q has no record %sdata/%s in the archive", key, prefix, key)
		}
		want := numel * int64(size)
		if f.UncompressedSize64 != uint64(want) {
			return nil, fmt.Errorf("storage %q: record holds %d bytes, %s[%d] needs %d", key, f.UncompressedSize64, dtype, numel, want)
		}
		data, err := readRecord(f, want)
		if err != nil {
			return nil, err
		}
		s := &torchStorage{dtype: dtype, numel: numel, data: data}
		storages[key] = s
		storageBytes += want
		return s, nil
	}
	u.call = func(g pyGlobal, args pyTuple) (any, bool, error) {
		if g.module != "torch._utils" {
			return nil, false, nil
		}
		switch g.name {
		case "_rebuild_tensor_v2", "_rebuild_tensor":
			if len(args) < 4 {
				return nil, true, fmt.Errorf("want (storage, offset, size, stride, ...), got %d arguments", len(args))
			}
			t, err := rebuildTensor(args[0], args[1], args[2], args[3])
			if err != nil {
				return nil, true, err
			}
			viewBytes += int64(len(t.t.Data))
			if viewBytes > viewBudget*storageBytes+(1<<20) {
				return nil, true, fmt.Errorf("tensor views add up to %d bytes from %d bytes of storage: refusing overlapping views", viewBytes, storageBytes)
			}
			return t, true, nil
		case "_rebuild_parameter", "_rebuild_parameter_with_state":
			if len(args) < 1 {
				return nil, true, fmt.Errorf("no data argument")
			}
			return args[0], true, nil // nn.Parameter(data): the data is what we keep
		}
		return nil, false, nil
	}
	obj, err := u.load()
	if err != nil {
		return nil, err
	}
	if o, ok := obj.(*pyObject); ok && module != nil && isTorchModule(o.class, o.state) {
		return nil, &wholeModuleError{o.class}
	}
	sd := newStateDict(FormatTorch, "")
	if err := flatten(sd, obj, 2*len(raw)+64); err != nil {
		return nil, err
	}
	if len(sd.Names) == 0 && module != nil {
		return nil, &wholeModuleError{*module}
	}
	if len(sd.Names) == 0 {
		return nil, fmt.Errorf("the checkpoint holds no tensors (found %s)", typeName(obj))
	}
	return sd, nil
}

// torchRecords indexes the archive by name and finds its single top folder ("archive/").
func torchRecords(zr *zip.Reader) (string, map[string]*zip.File, error) {
	records := make(map[string]*zip.File, len(zr.File))
	prefix := ""
	for i, f := range zr.File {
		top, _, ok := strings.Cut(f.Name, "/")
		if !ok {
			return "", nil, fmt.Errorf("record %q is outside a top folder (not a torch.save archive)", f.Name)
		}
		if i == 0 {
			prefix = top + "/"
		} else if top+"/" != prefix {
			return "", nil, fmt.Errorf("records under two top folders, %q and %q (not a torch.save archive)", prefix, top+"/")
		}
		if _, dup := records[f.Name]; dup {
			return "", nil, fmt.Errorf("record %q appears twice", f.Name)
		}
		records[f.Name] = f
	}
	if len(records) == 0 {
		return "", nil, fmt.Errorf("empty archive")
	}
	return prefix, records, nil
}

// readRecord reads a zip member of at most limit bytes; the zip reader checks its CRC and size.
func readRecord(f *zip.File, limit int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("record %s is %d bytes, over the %d-byte limit", f.Name, f.UncompressedSize64, limit)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("record %s: %v", f.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, int64(f.UncompressedSize64)+1))
	if err != nil {
		return nil, fmt.Errorf("record %s: %v", f.Name, err)
	}
	if uint64(len(b)) != f.UncompressedSize64 {
		return nil, fmt.Errorf("record %s holds %d bytes, its header says %d", f.Name, len(b), f.UncompressedSize64)
	}
	return b, nil
}

// rebuildTensor copies the (possibly strided) view of a storage into a contiguous tensor.
func rebuildTensor(storage, offset, size, stride any) (*torchTensor, error) {
	s, ok := storage.(*torchStorage)
	if !ok {
		return nil, fmt.Errorf("storage argument is a %s", typeName(storage))
	}
	off, ok := offset.(int64)
	if !ok || off < 0 {
		return nil, fmt.Errorf("bad storage offset %v", offset)
	}
	shape, err := intTuple(size, "size")
	if err != nil {
		return nil, err
	}
	strides, err := intTuple(stride, "stride")
	if err != nil {
		return nil, err
	}
	if len(strides) != len(shape) {
		return nil, fmt.Errorf("size %v and stride %v differ in rank", shape, strides)
	}
	if off > s.numel {
		return nil, fmt.Errorf("storage offset %d is past the storage's %d elements", off, s.numel)
	}
	// Every step below is checked before it could overflow: the numbers come from the file.
	n, last := int64(1), off
	for i, d := range shape {
		if d < 0 || strides[i] < 0 {
			return nil, fmt.Errorf("negative size or stride (%v, %v)", shape, strides)
		}
		if d == 0 {
			n = 0
			break
		}
		if n > s.numel/d {
			return nil, fmt.Errorf("view %v has more elements than its storage (%d); save tensor.contiguous() or .clone()", shape, s.numel)
		}
		n *= d
		if strides[i] > 0 && d-1 > (s.numel-1-last)/strides[i] {
			return nil, fmt.Errorf("view (size %v, stride %v, offset %d) reaches past its storage of %d elements", shape, strides, off, s.numel)
		}
		last += (d - 1) * strides[i]
	}
	if n > 0 && last >= s.numel {
		return nil, fmt.Errorf("view (size %v, stride %v, offset %d) reaches past its storage of %d elements", shape, strides, off, s.numel)
	}
	esize, _ := traj.DTypeSize(s.dtype)
	dims := make([]int, len(shape))
	for i, d := range shape {
		dims[i] = int(d)
	}
	out := make([]byte, int(n)*esize)
	if n > 0 {
		contiguous := true
		want := int64(1)
		for i := len(shape) - 1; i >= 0; i-- {
			if shape[i] != 1 && strides[i] != want {
				contiguous = false
			}
			want *= shape[i]
		}
		if contiguous {
			copy(out, s.data[int(off)*esize:int(off+n)*esize])
		} else {
			idx := make([]int64, len(shape))
			for e := int64(0); e < n; e++ {
				src := off
				for i, v := range idx {
					src += v * strides[i]
				}
				copy(out[int(e)*esize:int(e+1)*esize], s.data[int(src)*esize:int(src+1)*esize])
				for i := len(idx) - 1; i >= 0; i-- {
					idx[i]++
					if idx[i] < shape[i] {
						break
					}
					idx[i] = 0
				}
			}
		}
	}
	return &torchTensor{t: Tensor{DType: s.dtype, Shape: dims, Data: out}}, nil
}

func intTuple(v any, what string) ([]int64, error) {
	t, ok := v.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("%s is a %s, want a tuple", what, typeName(v))
	}
	if len(t) > 64 {
		return nil, fmt.Errorf("%s has %d dimensions", what, len(t))
	}
	out := make([]int64, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok {
			return nil, fmt.Errorf("%s %v holds a %s", what, t, typeName(x))
		}
		out[i] = n
	}
	return out, nil
}

// maxNesting bounds how deep flatten follows containers (a pickle can make a list contain itself).
const maxNesting = 32

// flatten names the tensors and numbers inside v by their dotted path ("state_dict.fc1.weight").
// budget bounds the nodes visited: memoized tuples can share children, so a small pickle can
// describe a tree exponentially larger than itself; a real checkpoint visits each object once.
func flatten(sd *StateDict, v any, budget int) error {
	w := &walker{sd: sd, seen: map[any]bool{}, budget: budget}
	return w.walk("", "", v, 0)
}

type walker struct {
	sd     *StateDict
	seen   map[any]bool
	budget int
}

// walk visits v, named name, inside the dict or list named parent ("" at the top).
func (w *walker) walk(parent, name string, v any, depth int) error {
	if depth > maxNesting {
		return fmt.Errorf("containers nested deeper than %d levels at %q", maxNesting, name)
	}
	if w.budget--; w.budget < 0 {
		return fmt.Errorf("the pickle refers to its objects more often than a checkpoint does (at %q)", truncate(name, 60))
	}
	join := func(k string) string {
		if name == "" {
			return k
		}
		return name + "." + k
	}
	sd := w.sd
	switch v := v.(type) {
	case *torchTensor:
		if err := sd.Add(name, v.t); err != nil {
			return err
		}
		if parent != "" {
			if sd.Container == nil {
				sd.Container = map[string]string{}
			}
			sd.Container[name] = parent + "."
		}
	case int64:
		sd.Scalars[name] = float64(v)
	case float64:
		sd.Scalars[name] = v
	case bool:
		if v {
			sd.Scalars[name] = 1
		} else {
			sd.Scalars[name] = 0
		}
	case *pyDict:
		if w.seen[v] {
			return nil
		}
		w.seen[v] = true
		for i, k := range v.keys {
			var ks string
			switch k := k.(type) {
			case string:
				ks = k
			case int64:
				ks = strconv.FormatInt(k, 10)
			default:
				continue // keys that cannot name a tensor (None, floats) hold no weights in practice
			}
			if err := w.walk(name, join(ks), v.vals[i], depth+1); err != nil {
				return err
			}
		}
	case *pyList:
		if w.seen[v] {
			return nil
		}
		w.seen[v] = true
		for i, x := range v.items {
			if err := w.walk(name, join(strconv.Itoa(i)), x, depth+1); err != nil {
				return err
			}
		}
	case pyTuple:
		for i, x := range v {
			if err := w.walk(name, join(strconv.Itoa(i)), x, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteTorch writes the tensors of sd (in sd.Names order) as a PyTorch state_dict file:
// torch.load(path) returns an OrderedDict of CPU tensors that load_state_dict accepts. The write
// is atomic. Scalars are not written (a state_dict holds tensors only).
func WriteTorch(path string, sd *StateDict) error {
	if len(sd.Names) == 0 {
		return fmt.Errorf("interop: writing %s: no tensors to write", path)
	}
	var p pickleWriter
	p.proto()
	p.global("collections", "OrderedDict")
	p.op(')')
	p.op('R')
	p.mark()
	for i, name := range sd.Names {
		t, ok := sd.Tensors[name]
		if !ok {
			return fmt.Errorf("interop: writing %s: tensor %q is listed but missing", path, name)
		}
		cls, ok := torchStorageOf(t.DType)
		if !ok {
			return fmt.Errorf("interop: writing %s: tensor %q has dtype %q, which PyTorch files cannot hold", path, name, t.DType)
		}
		if err := checkTensor(t); err != nil {
			return fmt.Errorf("interop: writing %s: tensor %q: %w", path, name, err)
		}
		shape := make([]int64, len(t.Shape))
		stride := make([]int64, len(t.Shape))
		acc := int64(1)
		for d := len(t.Shape) - 1; d >= 0; d-- {
			shape[d], stride[d] = int64(t.Shape[d]), acc
			acc *= int64(t.Shape[d])
		}
		p.str(name)
		p.global("torch._utils", "_rebuild_tensor_v2")
		p.mark()
		p.mark()
		p.str("storage")
		p.global("torch", cls)
		p.str(strconv.Itoa(i))
		p.str("cpu")
		p.int(int64(t.NumElements()))
		p.op('t')
		p.op('Q')
		p.int(0)
		p.tuple(shape)
		p.tuple(stride)
		p.op(0x89) // requires_grad=False
		p.global("collections", "OrderedDict")
		p.op(')')
		p.op('R') // backward hooks: an empty OrderedDict
		p.op('t')
		p.op('R')
	}
	p.op('u')
	p.stop()

	const prefix = "archive/"
	records := []struct {
		name string
		data []byte
	}{{prefix + "data.pkl", p.Bytes()}, {prefix + "byteorder", []byte("little")}}
	for i, name := range sd.Names {
		records = append(records, struct {
			name string
			data []byte
		}{prefix + "data/" + strconv.Itoa(i), sd.Tensors[name].Data})
	}
	records = append(records, struct {
		name string
		data []byte
	}{prefix + "version", []byte("3\n")})
	err := traj.WriteAtomic(path, func(w io.Writer) error {
		zw := &alignedZip{zip: zip.NewWriter(w)}
		for _, r := range records {
			if err := zw.store(r.name, r.data); err != nil {
				return err
			}
		}
		return zw.zip.Close()
	})
	if err != nil {
		return fmt.Errorf("interop: %w", err)
	}
	return nil
}

func checkTensor(t Tensor) error {
	size, ok := traj.DTypeSize(t.DType)
	if !ok {
		return fmt.Errorf("unknown dtype %q", t.DType)
	}
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("negative dimension in shape %v", t.Shape)
		}
	}
	if t.NumElements()*size != len(t.Data) {
		return fmt.Errorf("dtype %s shape %v needs %d bytes, has %d", t.DType, t.Shape, t.NumElements()*size, len(t.Data))
	}
	return nil
}

// alignedZip writes stored (uncompressed) members whose data starts on a 64-byte boundary, as
// torch.save does (PyTorch can then memory-map them), padding with an extra field.
type alignedZip struct {
	zip *zip.Writer
	off int64
}

func (z *alignedZip) store(name string, data []byte) error {
	const align = 64
	head := int64(30 + len(name) + 4) // local header + name + the padding field's own header
	pad := (align - (z.off+head)%align) % align
	extra := make([]byte, 4+pad)
	copy(extra, []byte{'F', 'B', byte(pad), byte(pad >> 8)}) // id 0x4246 ("FB"), as PyTorch uses
	for i := 4; i < len(extra); i++ {
		extra[i] = 'Z'
	}
	fh := &zip.FileHeader{Name: name, Method: zip.Store, Extra: extra,
		CRC32: crc32.ChecksumIEEE(data), CompressedSize64: uint64(len(data)), UncompressedSize64: uint64(len(data))}
	w, err := z.zip.CreateRaw(fh)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	z.off += head + pad + int64(len(data))
	return nil
}

// sortedKeys is for deterministic messages.
func sortedKeys[M ~map[string]V, V any](m M) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
