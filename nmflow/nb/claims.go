package nb

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
)

// Claims records the numbers a notebook's text quotes, so that a last cell can check them: the
// cells that print a number Set it, and the check cell Gets it back. Every cell of a GoNB notebook
// runs as its own program, so the record is a small JSON file under OutPath. Errors panic, as
// everything in a notebook cell does, with a message that says what to do.
type Claims struct {
	path string
}

// NewClaims returns the record of the notebook named name (e.g. "t03"), kept in
// OutPath(name + "-claims.json").
func NewClaims(name string) Claims { return Claims{path: OutPath(name + "-claims.json")} }

// Path is the record's file.
func (c Claims) Path() string { return c.path }

// Reset forgets every recorded number, so that a check never reads a previous run's: call it in
// the notebook's first code cell.
func (c Claims) Reset() {
	if err := os.Remove(c.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		panic(fmt.Sprintf("nb: cannot reset the claims record %s: %v", c.path, err))
	}
}

// Set records value under key, replacing an earlier value. The file is replaced atomically.
func (c Claims) Set(key string, value float64) {
	m := c.read()
	m[key] = value
	b, err := json.MarshalIndent(m, "", "  ")
	if err == nil {
		err = writeAtomic(c.path, b)
	}
	if err != nil {
		panic(fmt.Sprintf("nb: cannot record claim %q in %s: %v", key, c.path, err))
	}
}

// Get returns the value recorded under key; it panics when the key was never recorded (the cell
// that prints it did not run).
func (c Claims) Get(key string) float64 {
	v, ok := c.read()[key]
	if !ok {
		panic(fmt.Sprintf("nb: claim %q was not recorded in %s: run the cells above this one first", key, c.path))
	}
	return v
}

// Keys lists the recorded keys in sorted order.
func (c Claims) Keys() []string {
	m := c.read()
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (c Claims) read() map[string]float64 {
	m := map[string]float64{}
	b, err := os.ReadFile(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return m
	}
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		panic(fmt.Sprintf("nb: cannot read the claims record %s: %v (run the notebook from its first cell)", c.path, err))
	}
	return m
}

func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Checker checks a notebook's claims one by one: the first that fails panics with "claim broken:
// …", which fails the cell and the headless run (scripts/run-notebooks.sh, make demo). Done prints
// how many held.
type Checker struct {
	n int
}

// Check panics with the formatted message when ok is false.
func (c *Checker) Check(ok bool, format string, args ...any) {
	if !ok {
		panic("claim broken: " + fmt.Sprintf(format, args...))
	}
	c.n++
}

// Quoted checks that got, a number a cell printed, is within tol of quoted, the value the text
// states for it (NaN or Inf never is).
func (c *Checker) Quoted(what string, got, quoted, tol float64) {
	c.Check(math.Abs(got-quoted) <= tol, "%s is %.4g, the text says %.4g (± %.2g)", what, got, quoted, tol)
}

// Done prints the number of claims checked at the current scale.
func (c *Checker) Done() {
	fmt.Printf("%d claims checked at scale %s: all hold\n", c.n, Scale())
}
