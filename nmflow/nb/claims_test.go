package nb

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
)

// panicText runs f and returns what it panicked with ("" when it did not).
func panicText(f func()) (s string) {
	defer func() {
		if r := recover(); r != nil {
			s = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}

func TestClaimsRoundTrip(t *testing.T) {
	t.Setenv(EnvOut, t.TempDir())
	c := NewClaims("t99")
	c.Reset() // no file yet: nothing to do
	c.Set("w1.cfm", 0.683)
	c.Set("ratio", 8.8)
	c.Set("w1.cfm", 0.7) // replaces
	// A second handle, as in a later cell (its own program), reads the same record.
	d := NewClaims("t99")
	if got := d.Get("w1.cfm"); got != 0.7 {
		t.Errorf("Get(w1.cfm) = %v, want 0.7", got)
	}
	if got := d.Keys(); strings.Join(got, ",") != "ratio,w1.cfm" {
		t.Errorf("Keys = %v", got)
	}
	if msg := panicText(func() { d.Get("missing") }); !strings.Contains(msg, `"missing" was not recorded`) || !strings.Contains(msg, "run the cells above") {
		t.Errorf("Get of a missing key panicked with %q", msg)
	}
	d.Reset()
	if _, err := os.Stat(c.Path()); !os.IsNotExist(err) {
		t.Errorf("after Reset the record still exists: %v", err)
	}
	if len(d.Keys()) != 0 {
		t.Errorf("after Reset: keys %v", d.Keys())
	}
}

func TestClaimsDamagedRecord(t *testing.T) {
	t.Setenv(EnvOut, t.TempDir())
	c := NewClaims("bad")
	if err := os.WriteFile(c.Path(), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg := panicText(func() { c.Get("x") }); !strings.Contains(msg, "cannot read the claims record") {
		t.Errorf("damaged record: panic %q", msg)
	}
}

func TestChecker(t *testing.T) {
	var c Checker
	c.Check(true, "never shown")
	c.Quoted("W1", 0.684, 0.683, 0.002)
	if c.n != 2 {
		t.Errorf("%d claims counted, want 2", c.n)
	}
	for _, tc := range []struct {
		name string
		f    func()
		want string
	}{
		{"false", func() { c.Check(false, "MMFM %.3f is not below CFM %.3f", 0.5, 0.4) }, "claim broken: MMFM 0.500 is not below CFM 0.400"},
		{"off", func() { c.Quoted("W1", 0.7, 0.683, 0.002) }, "claim broken: W1 is 0.7, the text says 0.683"},
		{"nan", func() { c.Quoted("W1", math.NaN(), 0.683, 1) }, "claim broken: W1 is NaN"},
		{"inf", func() { c.Quoted("W1", math.Inf(1), math.Inf(1), 1) }, "claim broken: W1 is +Inf"},
	} {
		if msg := panicText(tc.f); !strings.HasPrefix(msg, tc.want) {
			t.Errorf("%s: panic %q, want prefix %q", tc.name, msg, tc.want)
		}
	}
	if c.n != 2 {
		t.Errorf("failed checks were counted: %d", c.n)
	}
}

func ExampleChecker() {
	var c Checker
	mmfm, cfm := 0.078, 0.683
	c.Check(mmfm < cfm/4, "MMFM's W1 %.3f is not 4× below CFM's %.3f", mmfm, cfm)
	c.Quoted("CFM's mean W1", cfm, 0.68, 0.01)
	fmt.Println(c.n, "claims hold")
	// Output: 2 claims hold
}
