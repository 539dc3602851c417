package nb

import (
	"bytes"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// outside makes the test run as a plain program (not under GoNB) with stdout captured.
func outside(t *testing.T) *bytes.Buffer {
	t.Helper()
	t.Setenv("GONB_PIPE", "")
	t.Setenv(EnvPlotDir, "")
	var buf bytes.Buffer
	old := Stdout
	Stdout = &buf
	t.Cleanup(func() { Stdout = old })
	return &buf
}

func linePlot(t *testing.T, title string) *plot.Plot {
	t.Helper()
	p := plot.New()
	p.Title.Text = title
	pts := make(plotter.XYs, 10)
	for i := range pts {
		pts[i].X, pts[i].Y = float64(i), float64(i*i)
	}
	l, err := plotter.NewLine(pts)
	if err != nil {
		t.Fatal(err)
	}
	p.Add(l)
	return p
}

func TestIsNotebook(t *testing.T) {
	t.Setenv("GONB_PIPE", "")
	if IsNotebook() {
		t.Fatal("IsNotebook with empty GONB_PIPE")
	}
	t.Setenv("GONB_PIPE", "/tmp/some_pipe")
	if !IsNotebook() {
		t.Fatal("IsNotebook false with GONB_PIPE set")
	}
}

func TestShowPlotOutsideNotebook(t *testing.T) {
	out := outside(t)
	if err := ShowPlot(linePlot(t, "quiet"), 3*vg.Inch, 2*vg.Inch); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Fatalf("ShowPlot without %s wrote %q", EnvPlotDir, out.String())
	}
	dir := filepath.Join(t.TempDir(), "figs")
	t.Setenv(EnvPlotDir, dir)
	if err := ShowPlot(linePlot(t, "saved"), 3*vg.Inch, 2*vg.Inch); err != nil {
		t.Fatal(err)
	}
	if err := ShowPlots(2, 2*vg.Inch, 2*vg.Inch, linePlot(t, "a"), linePlot(t, "b")); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "plot-*.png"))
	if len(files) != 2 {
		t.Fatalf("saved %v, want 2 files", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(bytes.NewReader(b)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	if got := strings.Count(out.String(), "plot saved to "); got != 2 {
		t.Fatalf("output %q", out.String())
	}
}

// TestSavePNGKeepsExistingFiles: a saved figure never replaces a file already there (another
// process's figure) and leaves no staging file behind.
func TestSavePNGKeepsExistingFiles(t *testing.T) {
	out := outside(t)
	dir := t.TempDir()
	t.Setenv(EnvPlotDir, dir)
	saveMu.Lock()
	taken := filepath.Join(dir, fmt.Sprintf("plot-%03d.png", saveSeq+1))
	want := filepath.Join(dir, fmt.Sprintf("plot-%03d.png", saveSeq+2))
	saveMu.Unlock()
	if err := os.WriteFile(taken, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ShowPlot(linePlot(t, "next"), 2*vg.Inch, 2*vg.Inch); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(taken); err != nil || string(b) != "keep" {
		t.Fatalf("%s was overwritten: %q, %v", taken, b, err)
	}
	b, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(b)); err != nil {
		t.Fatalf("%s: %v", want, err)
	}
	if st, _ := os.Stat(want); st.Mode().Perm() != 0o644 {
		t.Errorf("%s has mode %v, want 0644", want, st.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 || !strings.Contains(out.String(), "plot saved to "+want) {
		t.Errorf("folder holds %v, output %q", entries, out.String())
	}
}

func TestTableText(t *testing.T) {
	out := outside(t)
	Table([]string{"method", "acc", "note"}, [][]string{
		{"cfm", "0.912", "Kaiming"},
		{"mmfm", "0.9", ""},
		{"jko(3)", "12.25%"},
	})
	want := "" +
		"method     acc  note\n" +
		"------  ------  -------\n" +
		"cfm      0.912  Kaiming\n" +
		"mmfm       0.9\n" +
		"jko(3)  12.25%\n"
	if out.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", out.String(), want)
	}
	if TableText(nil, nil) != "" {
		t.Fatal("empty table should render empty")
	}
}

func TestTableHTML(t *testing.T) {
	h := TableHTML([]string{"a<b", "n"}, [][]string{{"x&y", "3"}, {"only"}})
	for _, want := range []string{
		"<th>a&lt;b</th>", `<td style="text-align:left">x&amp;y</td>`, `<td style="text-align:right">3</td>`,
		`<td style="text-align:left"></td>`, "</tbody></table>",
	} {
		if !strings.Contains(h, want) {
			t.Errorf("HTML %q lacks %q", h, want)
		}
	}
}

func TestMarkdownOutsideNotebook(t *testing.T) {
	out := outside(t)
	Markdown("# Title\n\nSome *text*.\n")
	HTML("<b>ignored</b>")
	Sync()
	if out.String() != "# Title\n\nSome *text*.\n" {
		t.Fatalf("got %q", out.String())
	}
}

func TestScaleAndOutPath(t *testing.T) {
	for in, want := range map[string]string{"": "default", "default": "default", "CI": "ci", " ci ": "ci", "Full": "full"} {
		t.Setenv(EnvScale, in)
		if got := Scale(); got != want {
			t.Errorf("Scale(%q) = %q, want %q", in, got, want)
		}
	}
	t.Setenv(EnvScale, "huge")
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "want \"ci\"") {
				t.Errorf("bad scale: recover() = %v", r)
			}
		}()
		Scale()
	}()
	dir := t.TempDir()
	t.Setenv(EnvOut, filepath.Join(dir, "out"))
	if p := OutPath("zoo.safetensors"); p != filepath.Join(dir, "out", "zoo.safetensors") {
		t.Fatalf("OutPath = %s", p)
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvOut, "")
	t.Setenv(EnvScale, "ci")
	if p := OutPath("x"); !strings.HasSuffix(p, filepath.Join("_build", "artifacts", "ci", "x")) {
		t.Fatalf("default OutPath = %s", p)
	}
}
