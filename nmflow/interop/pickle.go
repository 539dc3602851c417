package interop

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// A minimal pickle virtual machine for the subset of protocols 0–5 that torch.save and NumPy
// scalars use. It never executes code: GLOBAL only names a class, REDUCE/NEWOBJ on a class it does
// not know yields an inert pyObject, and every length is checked against the bytes that remain
// before anything is allocated. (nlpodyssey/gopickle v0.3.0 allocates lengths from the stream
// first: a 12-byte pickle with a lying FRAME size makes it die out of memory.)

// Python values as the VM builds them.
type (
	pyTuple  []any
	pyBytes  string // hashable, so bytes can be dict keys as in Python
	pyGlobal struct{ module, name string }
	pyList   struct{ items []any }
	pyDict   struct {
		keys, vals []any
		index      map[any]int
	}
	// pyObject is what calling an unknown class gives: kept, never interpreted.
	pyObject struct {
		class pyGlobal
		args  any
		state any
	}
	// npDType is numpy.dtype(...) rebuilt from its pickle (kind+size and byte order).
	npDType struct {
		code  string // e.g. "f8", "i4"
		order string // "<", ">", "|" or "=" (set by BUILD)
	}
)

func (g pyGlobal) String() string { return g.module + "." + g.name }

func newDict() *pyDict { return &pyDict{index: map[any]int{}} }

func (d *pyDict) set(k, v any) error {
	switch k.(type) {
	case nil, bool, int64, float64, string, pyBytes:
	default:
		return fmt.Errorf("dict key of type %s is not supported", typeName(k))
	}
	if i, ok := d.index[k]; ok {
		d.vals[i] = v
		return nil
	}
	d.index[k] = len(d.keys)
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
	return nil
}

func typeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case pyBytes:
		return "bytes"
	case pyTuple:
		return "tuple"
	case *pyList:
		return "list"
	case *pyDict:
		return "dict"
	case pyGlobal:
		return "class " + v.String()
	case *pyObject:
		return v.class.String() + " object"
	}
	return fmt.Sprintf("%T", v)
}

// maxPickleLine bounds text-protocol arguments (GLOBAL names, INT literals, ...).
const maxPickleLine = 1 << 16

type unpickler struct {
	data  []byte
	pos   int
	stack []any
	marks []int
	memo  map[uint64]any
	// persistentLoad resolves BINPERSID/PERSID ids (torch storages); nil rejects them.
	persistentLoad func(pid any) (any, error)
	// call handles REDUCE/NEWOBJ on a class; ok=false leaves the class unknown (an inert pyObject).
	call func(g pyGlobal, args pyTuple) (v any, ok bool, err error)
	// vet, when set, sees every class the pickle names (GLOBAL, state nil) and every object it
	// builds (BUILD, with the object's state); its error stops the load at once.
	vet func(g pyGlobal, state any) error
}

type pickleError struct {
	pos int
	msg string
}

func (e *pickleError) Error() string { return fmt.Sprintf("pickle byte %d: %s", e.pos, e.msg) }

func (u *unpickler) fail(format string, a ...any) error {
	return &pickleError{pos: u.pos, msg: fmt.Sprintf(format, a...)}
}

func (u *unpickler) take(n uint64) ([]byte, error) {
	if n > uint64(len(u.data)-u.pos) {
		return nil, u.fail("argument of %d bytes runs past the end of the pickle (%d bytes left): truncated or corrupt", n, len(u.data)-u.pos)
	}
	b := u.data[u.pos : u.pos+int(n)]
	u.pos += int(n)
	return b, nil
}

func (u *unpickler) uint(n int) (uint64, error) {
	b, err := u.take(uint64(n))
	if err != nil {
		return 0, err
	}
	var buf [8]byte
	copy(buf[:], b)
	return binary.LittleEndian.Uint64(buf[:]), nil
}

func (u *unpickler) line() (string, error) {
	i := bytes.IndexByte(u.data[u.pos:min(len(u.data), u.pos+maxPickleLine)], '\n')
	if i < 0 {
		return "", u.fail("text argument without a newline within %d bytes", maxPickleLine)
	}
	s := string(u.data[u.pos : u.pos+i])
	u.pos += i + 1
	return s, nil
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

func (u *unpickler) pop() (any, error) {
	base := 0
	if len(u.marks) > 0 {
		base = u.marks[len(u.marks)-1]
	}
	if len(u.stack) <= base {
		return nil, u.fail("stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (*any, error) {
	base := 0
	if len(u.marks) > 0 {
		base = u.marks[len(u.marks)-1]
	}
	if len(u.stack) <= base {
		return nil, u.fail("stack underflow")
	}
	return &u.stack[len(u.stack)-1], nil
}

// popN pops the top n values, returned in the order they were pushed.
func (u *unpickler) popN(n int) ([]any, error) {
	out := make([]any, n)
	for i := n - 1; i >= 0; i-- {
		v, err := u.pop()
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// popInto pops the operands of an append or set-item opcode (n values when single, else all
// since the MARK) and returns them with the container below them.
func (u *unpickler) popInto(single bool, n int) ([]any, any, error) {
	var items []any
	var err error
	if single {
		items, err = u.popN(n)
	} else {
		items, err = u.popMark()
	}
	if err != nil {
		return nil, nil, err
	}
	t, err := u.top()
	if err != nil {
		return nil, nil, err
	}
	return items, *t, nil
}

// popMark returns the items pushed since the last MARK and removes them and the mark.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, u.fail("no MARK on the stack")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) memoPut(i uint64) error {
	t, err := u.top()
	if err != nil {
		return err
	}
	u.memo[i] = *t
	return nil
}

func (u *unpickler) memoGet(i uint64) error {
	v, ok := u.memo[i]
	if !ok {
		return u.fail("memo key %d was never stored", i)
	}
	u.push(v)
	return nil
}

// load runs the pickle to its STOP and returns the value.
func (u *unpickler) load() (any, error) {
	if u.memo == nil {
		u.memo = map[uint64]any{}
	}
	for u.pos < len(u.data) {
		op := u.data[u.pos]
		u.pos++
		done, err := u.step(op)
		if err != nil {
			return nil, err
		}
		if done {
			if len(u.stack) != 1 || len(u.marks) != 0 {
				return nil, u.fail("STOP with %d values and %d marks on the stack, want one value", len(u.stack), len(u.marks))
			}
			return u.stack[0], nil
		}
	}
	return nil, u.fail("no STOP opcode: truncated pickle")
}

func (u *unpickler) step(op byte) (stop bool, err error) {
	switch op {
	case 0x80: // PROTO
		v, err := u.uint(1)
		if err != nil {
			return false, err
		}
		if v > 5 {
			return false, u.fail("pickle protocol %d is newer than 5", v)
		}
	case 0x95: // FRAME: only a hint for buffering; its length must still fit.
		n, err := u.uint(8)
		if err != nil {
			return false, err
		}
		if n > uint64(len(u.data)-u.pos) {
			return false, u.fail("FRAME of %d bytes runs past the end of the pickle", n)
		}
	case '.':
		return true, nil
	case '(':
		u.marks = append(u.marks, len(u.stack))
	case '0': // POP
		if len(u.marks) > 0 && len(u.stack) == u.marks[len(u.marks)-1] {
			u.marks = u.marks[:len(u.marks)-1] // POP of a mark, as CPython does
			break
		}
		_, err = u.pop()
	case '1': // POP_MARK
		_, err = u.popMark()
	case '2': // DUP
		var t *any
		if t, err = u.top(); err == nil {
			u.push(*t)
		}
	case 'N':
		u.push(nil)
	case 0x88:
		u.push(true)
	case 0x89:
		u.push(false)
	case 'I', 'L': // INT, LONG (text)
		s, err := u.line()
		if err != nil {
			return false, err
		}
		switch {
		case op == 'I' && s == "00":
			u.push(false)
		case op == 'I' && s == "01":
			u.push(true)
		default:
			n, err := strconv.ParseInt(strings.TrimSuffix(s, "L"), 10, 64)
			if err != nil {
				return false, u.fail("bad integer literal %q (or beyond 64 bits)", truncate(s, 40))
			}
			u.push(n)
		}
	case 'J': // BININT
		v, err := u.uint(4)
		if err != nil {
			return false, err
		}
		u.push(int64(int32(uint32(v))))
	case 'K': // BININT1
		v, err := u.uint(1)
		if err != nil {
			return false, err
		}
		u.push(int64(v))
	case 'M': // BININT2
		v, err := u.uint(2)
		if err != nil {
			return false, err
		}
		u.push(int64(v))
	case 0x8a, 0x8b: // LONG1, LONG4
		width := 1
		if op == 0x8b {
			width = 4
		}
		n, err := u.uint(width)
		if err != nil {
			return false, err
		}
		b, err := u.take(n)
		if err != nil {
			return false, err
		}
		v, err := decodeLong(b)
		if err != nil {
			return false, u.fail("%v", err)
		}
		u.push(v)
	case 'G': // BINFLOAT (big-endian)
		b, err := u.take(8)
		if err != nil {
			return false, err
		}
		u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
	case 'F': // FLOAT (text)
		s, err := u.line()
		if err != nil {
			return false, err
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return false, u.fail("bad float literal %q", truncate(s, 40))
		}
		u.push(f)
	case 'X', 0x8c, 0x8d, 'T', 'U': // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8, BINSTRING, SHORT_BINSTRING
		b, err := u.sized(op)
		if err != nil {
			return false, err
		}
		u.push(string(b))
	case 'B', 'C', 0x8e: // BINBYTES, SHORT_BINBYTES, BINBYTES8
		b, err := u.sized(op)
		if err != nil {
			return false, err
		}
		u.push(pyBytes(b))
	case 'V': // UNICODE (raw-unicode-escape); plain text only
		s, err := u.line()
		if err != nil {
			return false, err
		}
		if strings.Contains(s, `\`) {
			return false, u.fail("escaped UNICODE literals are not supported")
		}
		u.push(s)
	case ')':
		u.push(pyTuple{})
	case 't':
		items, err := u.popMark()
		if err != nil {
			return false, err
		}
		u.push(pyTuple(items))
	case 0x85, 0x86, 0x87: // TUPLE1..3
		items, err := u.popN(int(op-0x85) + 1)
		if err != nil {
			return false, err
		}
		u.push(pyTuple(items))
	case ']', 0x8f: // EMPTY_LIST, EMPTY_SET (sets never hold tensors in a checkpoint: kept as lists)
		u.push(&pyList{})
	case 'l', 0x91: // LIST, FROZENSET
		items, err := u.popMark()
		if err != nil {
			return false, err
		}
		u.push(&pyList{items: items})
	case 'a', 'e', 0x90: // APPEND, APPENDS, ADDITEMS
		items, c, err := u.popInto(op == 'a', 1)
		if err != nil {
			return false, err
		}
		l, ok := c.(*pyList)
		if !ok {
			return false, u.fail("APPEND to a %s, want a list", typeName(c))
		}
		l.items = append(l.items, items...)
	case '}':
		u.push(newDict())
	case 'd':
		items, err := u.popMark()
		if err != nil {
			return false, err
		}
		d := newDict()
		if err := u.setItems(d, items); err != nil {
			return false, err
		}
		u.push(d)
	case 's', 'u': // SETITEM, SETITEMS
		items, c, err := u.popInto(op == 's', 2)
		if err != nil {
			return false, err
		}
		d, ok := c.(*pyDict)
		if !ok {
			return false, u.fail("SETITEM on a %s, want a dict", typeName(c))
		}
		if err := u.setItems(d, items); err != nil {
			return false, err
		}
	case 'c': // GLOBAL
		mod, err := u.line()
		if err != nil {
			return false, err
		}
		name, err := u.line()
		if err != nil {
			return false, err
		}
		if u.vet != nil {
			if err := u.vet(pyGlobal{mod, name}, nil); err != nil {
				return false, err
			}
		}
		u.push(pyGlobal{mod, name})
	case 0x93: // STACK_GLOBAL
		in, err := u.popN(2)
		if err != nil {
			return false, err
		}
		ms, ok1 := in[0].(string)
		ns, ok2 := in[1].(string)
		if !ok1 || !ok2 {
			return false, u.fail("STACK_GLOBAL needs two strings, got %s and %s", typeName(in[0]), typeName(in[1]))
		}
		if u.vet != nil {
			if err := u.vet(pyGlobal{ms, ns}, nil); err != nil {
				return false, err
			}
		}
		u.push(pyGlobal{ms, ns})
	case 'R', 0x81, 0x92: // REDUCE, NEWOBJ: callable(*args); NEWOBJ_EX: cls(*args, **kwargs)
		n := 2
		if op == 0x92 {
			n = 3
		}
		in, err := u.popN(n)
		if err != nil {
			return false, err
		}
		v, err := u.apply(in[0], in[1])
		if err != nil {
			return false, err
		}
		if o, ok := v.(*pyObject); ok && n == 3 {
			o.state = in[2]
		}
		u.push(v)
	case 'b': // BUILD: obj.__setstate__(state)
		state, err := u.pop()
		if err != nil {
			return false, err
		}
		t, err := u.top()
		if err != nil {
			return false, err
		}
		switch o := (*t).(type) {
		case *npDType:
			if st, ok := state.(pyTuple); ok && len(st) > 1 {
				if s, ok := st[1].(string); ok {
					o.order = s
				}
			}
		case *pyObject:
			if u.vet != nil {
				if err := u.vet(o.class, state); err != nil {
					return false, err
				}
			}
			o.state = state
		}
		// Anything else (an OrderedDict's _metadata attribute, ...) carries no tensors: ignored.
	case 'Q': // BINPERSID
		pid, err := u.pop()
		if err != nil {
			return false, err
		}
		if err := u.persistent(pid); err != nil {
			return false, err
		}
	case 'P': // PERSID (text)
		s, err := u.line()
		if err != nil {
			return false, err
		}
		if err := u.persistent(s); err != nil {
			return false, err
		}
	case 'q', 'r', 'p': // BINPUT, LONG_BINPUT, PUT
		i, err := u.memoIndex(op)
		if err != nil {
			return false, err
		}
		return false, u.memoPut(i)
	case 0x94: // MEMOIZE
		return false, u.memoPut(uint64(len(u.memo)))
	case 'h', 'j', 'g': // BINGET, LONG_BINGET, GET
		i, err := u.memoIndex(op)
		if err != nil {
			return false, err
		}
		return false, u.memoGet(i)
	default:
		return false, u.fail("unsupported pickle opcode 0x%02x (%q)", op, rune(op))
	}
	return false, err
}

// memoIndex reads the memo index argument: 1 byte (q, h), 4 bytes (r, j) or a text line (p, g).
func (u *unpickler) memoIndex(op byte) (uint64, error) {
	switch op {
	case 'q', 'h':
		return u.uint(1)
	case 'r', 'j':
		return u.uint(4)
	}
	s, err := u.line()
	if err != nil {
		return 0, err
	}
	i, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, u.fail("bad memo index %q", truncate(s, 40))
	}
	return i, nil
}

// sized reads the length-prefixed payload of a string or bytes opcode.
func (u *unpickler) sized(op byte) ([]byte, error) {
	width := 4
	switch op {
	case 0x8c, 'U', 'C':
		width = 1
	case 0x8d, 0x8e:
		width = 8
	}
	n, err := u.uint(width)
	if err != nil {
		return nil, err
	}
	if op == 'T' && int32(uint32(n)) < 0 {
		return nil, u.fail("negative BINSTRING length")
	}
	return u.take(n)
}

func (u *unpickler) setItems(d *pyDict, items []any) error {
	if len(items)%2 != 0 {
		return u.fail("odd number of items (%d) for a dict", len(items))
	}
	for i := 0; i < len(items); i += 2 {
		if err := d.set(items[i], items[i+1]); err != nil {
			return u.fail("%v", err)
		}
	}
	return nil
}

func (u *unpickler) persistent(pid any) error {
	if u.persistentLoad == nil {
		return u.fail("persistent id in a pickle that may not have any")
	}
	v, err := u.persistentLoad(pid)
	if err != nil {
		return u.fail("%v", err)
	}
	u.push(v)
	return nil
}

// apply calls fn(*args) for the classes this VM knows; anything else becomes an inert pyObject.
func (u *unpickler) apply(fn, args any) (any, error) {
	g, ok := fn.(pyGlobal)
	if !ok {
		return nil, u.fail("call of a %s, want a class or function", typeName(fn))
	}
	at, ok := args.(pyTuple)
	if !ok {
		return nil, u.fail("arguments of %s are a %s, want a tuple", g, typeName(args))
	}
	if u.call != nil {
		v, handled, err := u.call(g, at)
		if err != nil {
			return nil, u.fail("%s: %v", g, err)
		}
		if handled {
			return v, nil
		}
	}
	switch g {
	case pyGlobal{"collections", "OrderedDict"}, pyGlobal{"builtins", "dict"}, pyGlobal{"__builtin__", "dict"}:
		d := newDict()
		if len(at) == 1 { // OrderedDict([(k, v), ...])
			if l, ok := at[0].(*pyList); ok {
				for _, it := range l.items {
					kv, ok := it.(pyTuple)
					if !ok || len(kv) != 2 {
						return nil, u.fail("%s: items must be (key, value) pairs", g)
					}
					if err := d.set(kv[0], kv[1]); err != nil {
						return nil, u.fail("%v", err)
					}
				}
			}
		}
		return d, nil
	case pyGlobal{"_codecs", "encode"}: // protocol 2 spells bytes as _codecs.encode(str, "latin1")
		if len(at) == 2 {
			str, ok1 := at[0].(string)
			enc, ok2 := at[1].(string)
			if ok1 && ok2 && (enc == "latin1" || enc == "latin-1") {
				b := make([]byte, 0, len(str))
				for _, r := range str {
					if r > 0xff {
						return nil, u.fail("_codecs.encode: %q is not latin-1", truncate(str, 20))
					}
					b = append(b, byte(r))
				}
				return pyBytes(b), nil
			}
		}
	case pyGlobal{"numpy", "dtype"}:
		if len(at) >= 1 {
			if s, ok := at[0].(string); ok {
				return &npDType{code: s, order: "="}, nil
			}
		}
	case pyGlobal{"numpy.core.multiarray", "scalar"}, pyGlobal{"numpy._core.multiarray", "scalar"}:
		if v, ok := numpyScalar(at); ok {
			return v, nil
		}
	}
	return &pyObject{class: g, args: at}, nil
}

// numpyScalar decodes numpy.float64(x) and friends, pickled as scalar(dtype, raw bytes).
func numpyScalar(args pyTuple) (any, bool) {
	if len(args) != 2 {
		return nil, false
	}
	dt, ok1 := args[0].(*npDType)
	raw, ok2 := args[1].(pyBytes)
	if !ok1 || !ok2 || dt.order == ">" {
		return nil, false
	}
	b := []byte(raw)
	switch {
	case dt.code == "f8" && len(b) == 8:
		return math.Float64frombits(binary.LittleEndian.Uint64(b)), true
	case dt.code == "f4" && len(b) == 4:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(b))), true
	case dt.code == "i8" && len(b) == 8:
		return int64(binary.LittleEndian.Uint64(b)), true
	case dt.code == "i4" && len(b) == 4:
		return int64(int32(binary.LittleEndian.Uint32(b))), true
	case dt.code == "b1" && len(b) == 1:
		return b[0] != 0, true
	}
	return nil, false
}

// decodeLong reads a little-endian two's-complement integer of LONG1/LONG4; beyond 64 bits is an
// error, as no checkpoint field needs it.
func decodeLong(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if len(b) > 8 {
		// Python may pad with sign bytes; accept them if the value still fits.
		sign := byte(0)
		if b[len(b)-1]&0x80 != 0 {
			sign = 0xff
		}
		for _, c := range b[8:] {
			if c != sign {
				return 0, fmt.Errorf("integer of %d bytes does not fit in 64 bits", len(b))
			}
		}
		if (b[7]&0x80 != 0) != (sign == 0xff) {
			return 0, fmt.Errorf("integer of %d bytes does not fit in 64 bits", len(b))
		}
		b = b[:8]
	}
	var buf [8]byte
	if b[len(b)-1]&0x80 != 0 {
		buf = [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	}
	copy(buf[:], b)
	return int64(binary.LittleEndian.Uint64(buf[:])), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// pickleWriter emits protocol-2 pickles: what torch.load expects from torch.save.
type pickleWriter struct{ bytes.Buffer }

func (w *pickleWriter) proto()    { w.Write([]byte{0x80, 2}) }
func (w *pickleWriter) stop()     { w.WriteByte('.') }
func (w *pickleWriter) mark()     { w.WriteByte('(') }
func (w *pickleWriter) op(b byte) { w.WriteByte(b) }
func (w *pickleWriter) global(m, n string) {
	w.WriteByte('c')
	w.WriteString(m + "\n" + n + "\n")
}

func (w *pickleWriter) str(s string) {
	w.WriteByte('X')
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(s)))
	w.Write(n[:])
	w.WriteString(s)
}

func (w *pickleWriter) int(v int64) {
	if v >= math.MinInt32 && v <= math.MaxInt32 {
		w.WriteByte('J')
		var n [4]byte
		binary.LittleEndian.PutUint32(n[:], uint32(int32(v)))
		w.Write(n[:])
		return
	}
	w.Write([]byte{0x8a, 8}) // LONG1, 8 bytes two's complement
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(v))
	w.Write(n[:])
}

// tuple writes a tuple of ints (shapes, strides).
func (w *pickleWriter) tuple(vs []int64) {
	if len(vs) == 0 {
		w.WriteByte(')')
		return
	}
	if len(vs) > 3 {
		w.mark()
	}
	for _, v := range vs {
		w.int(v)
	}
	switch len(vs) {
	case 1:
		w.WriteByte(0x85)
	case 2:
		w.WriteByte(0x86)
	case 3:
		w.WriteByte(0x87)
	default:
		w.WriteByte('t')
	}
}
