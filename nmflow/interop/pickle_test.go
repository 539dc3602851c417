package interop

import (
	"runtime"
	"strings"
	"testing"
)

func unpickle(b []byte) (any, error) { return (&unpickler{data: b}).load() }

// TestPickleOpcodes runs hand-written pickles through the VM, covering the opcodes of protocols
// 0–5 that checkpoints use, and checks the values they build.
func TestPickleOpcodes(t *testing.T) {
	v, err := unpickle([]byte("\x80\x02(K\x01J\xff\xff\xff\xffM\x00\x01\x8a\x02\x00\x80\x8a\x00I42\nL-7L\n\x88\x89Nt."))
	if err != nil {
		t.Fatal(err)
	}
	want := pyTuple{int64(1), int64(-1), int64(256), int64(-32768), int64(0), int64(42), int64(-7), true, false, nil}
	if got := v.(pyTuple); len(got) != len(want) {
		t.Fatalf("got %v", got)
	} else {
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("item %d = %#v, want %#v", i, got[i], want[i])
			}
		}
	}
	// Memo, DUP, lists, dicts, STACK_GLOBAL, FRAME, bytes, floats.
	p := []byte("\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00" + // FRAME of 5 bytes (a hint only)
		"}\x94(\x8c\x01a]\x94(K\x01K\x02e\x8c\x01bh\x01\x8c\x01cC\x02hi\x8c\x01dG?\xf8\x00\x00\x00\x00\x00\x00u.")
	v, err = unpickle(p)
	if err != nil {
		t.Fatal(err)
	}
	d := v.(*pyDict)
	if len(d.keys) != 4 || d.vals[0] != d.vals[1] || d.vals[2] != pyBytes("hi") || d.vals[3] != 1.5 {
		t.Errorf("dict %+v", d)
	}
	if l := d.vals[0].(*pyList); len(l.items) != 2 {
		t.Errorf("list %+v", l)
	}
	// numpy.float64(0.25) as protocol 2 pickles it (bytes through _codecs.encode).
	np := "\x80\x02cnumpy.core.multiarray\nscalar\ncnumpy\ndtype\nX\x02\x00\x00\x00f8\x89\x88\x87R(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb" +
		"c_codecs\nencode\nX\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00\xc3\x90?X\x06\x00\x00\x00latin1\x86R\x86R."
	if v, err := unpickle([]byte(np)); err != nil || v != 0.25 {
		t.Errorf("numpy scalar: %v, %v", v, err)
	}
	// An unknown class is inert: calling it does nothing and yields an opaque object.
	v, err = unpickle([]byte("\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R."))
	if o, ok := v.(*pyObject); err != nil || !ok || o.class.String() != "os.system" {
		t.Errorf("unknown class: %v, %v", v, err)
	}
	// A list that contains itself: flatten must terminate.
	v, err = unpickle([]byte("\x80\x02]q\x00h\x00a."))
	if err != nil {
		t.Fatal(err)
	}
	if err := flatten(newStateDict("", ""), v, 100); err != nil {
		t.Errorf("self-referencing list: %v", err)
	}
	// Shared tuples nested 30 deep describe 2^30 leaves in 125 bytes: the walk must give up.
	bomb := []byte("\x80\x02K\x01" + strings.Repeat("q\x00h\x00\x86", 30) + ".")
	v, err = unpickle(bomb)
	if err != nil {
		t.Fatal(err)
	}
	if err := flatten(newStateDict("", ""), v, 2*len(bomb)+64); err == nil || !strings.Contains(err.Error(), "refers to its objects") {
		t.Errorf("tuple bomb: %v", err)
	}
}

// TestPickleRejectsLies: lengths and indices that do not fit the data fail at once, without
// allocating what they claim.
func TestPickleRejectsLies(t *testing.T) {
	cases := []struct {
		name, pkl, want string
	}{
		{"BINUNICODE 4 GiB", "\x80\x02X\xff\xff\xff\xff.", "runs past the end"},
		{"BINBYTES8 2^64-1", "\x80\x04\x8e\xff\xff\xff\xff\xff\xff\xff\xff.", "runs past the end"},
		{"FRAME 2^63", "\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x80.", "FRAME"},
		{"LONG4 2 GiB", "\x80\x02\x8b\x00\x00\x00\x80.", "runs past the end"},
		{"LONG1 too wide", "\x80\x02\x8a\x09\x01\x01\x01\x01\x01\x01\x01\x01\x01.", "64 bits"},
		{"memo miss", "\x80\x02h\x05.", "never stored"},
		{"underflow", "\x80\x02t.", "no MARK"},
		{"mark left open", "\x80\x02K\x01(K\x02.", "STOP with"},
		{"no stop", "\x80\x02K\x01", "no STOP"},
		{"bad opcode", "\x80\x02\xff.", "unsupported pickle opcode"},
		{"protocol 6", "\x80\x06.", "newer than 5"},
		{"unhashable key", "\x80\x02})K\x01s.", "not supported"},
		{"setitem on list", "\x80\x02]K\x01K\x02s.", "want a dict"},
		{"persistent id", "\x80\x02K\x01Q.", "persistent id"},
		{"long line", "\x80\x02I" + strings.Repeat("1", maxPickleLine+1), "without a newline"},
	}
	for _, c := range cases {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := unpickle([]byte(c.pkl))
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to contain %q", c.name, err, c.want)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
			t.Errorf("%s: allocated %d bytes", c.name, grew)
		}
	}
}
