// Package nb holds the GoNB notebook display helpers: inline gonum/plot figures, tables and
// Markdown. The same calls work outside a notebook (CLI, tests, `go run`), where they print text
// to stdout or do nothing, so code can be shared between notebooks and programs.
//
// Outside a notebook:
//   - Table prints an aligned text table and Markdown prints its source, on stdout;
//   - ShowPlot, ShowPlots and ShowPNG display nothing. ShowPlot and ShowPlots still render the
//     figure, so they return the same errors as in a notebook. When NMFLOW_PLOT_DIR is set, the
//     PNGs are saved there instead (plot-001.png, plot-002.png, …) and each path is printed.
//
// Every displaying function ends with gonbui.Sync(): without it GoNB sometimes drops the last
// display of a cell when the cell's program exits.
//
// Figures are rendered by nmflow/plot (Render, RenderGrid), so notebooks and files look the same.
package nb

import (
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/janpfeifer/gonb/gonbui"
	"github.com/janpfeifer/gonb/gonbui/protocol"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

	nmplot "github.com/nmflow/nmflow/nmflow/plot"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// EnvPlotDir names the folder where figures are saved when not running in a notebook.
const EnvPlotDir = "NMFLOW_PLOT_DIR"

// Stdout receives the text output used outside a notebook (tables, Markdown, saved-plot paths).
var Stdout io.Writer = os.Stdout

// IsNotebook reports whether the program runs inside a GoNB kernel (GONB_PIPE is set).
func IsNotebook() bool { return os.Getenv(protocol.GONB_PIPE_ENV) != "" }

// Sync waits until everything displayed so far has reached the notebook. It does nothing outside
// a notebook. The helpers of this package call it themselves; call it after using gonbui directly.
func Sync() {
	if IsNotebook() {
		gonbui.Sync()
	}
}

// ShowPNG displays PNG-encoded image data inline (see the package comment for non-notebooks).
func ShowPNG(png []byte) {
	if IsNotebook() {
		gonbui.DisplayPNG(png)
		gonbui.Sync()
		return
	}
	_ = savePNG(png)
}

// HTML displays an HTML fragment in a notebook; outside one it does nothing.
func HTML(s string) {
	if IsNotebook() {
		gonbui.DisplayHTML(s)
		gonbui.Sync()
	}
}

// Markdown displays Markdown in a notebook and prints it as-is on stdout otherwise.
func Markdown(s string) {
	if IsNotebook() {
		gonbui.DisplayMarkdown(s)
		gonbui.Sync()
		return
	}
	fmt.Fprintln(Stdout, strings.TrimRight(s, "\n"))
}

// ShowPlot renders p at w×h (e.g. 5*vg.Inch, 3.5*vg.Inch) and displays it inline. Outside a
// notebook it renders the plot, saves it under NMFLOW_PLOT_DIR when set, and displays nothing.
func ShowPlot(p *plot.Plot, w, h vg.Length) error {
	png, err := nmplot.Render(p, w, h, "png")
	if err != nil {
		return err
	}
	return show(png)
}

// ShowPlots displays plots as one image, a grid of cols columns with w×h cells, filled row by
// row (cols <= 0: one row). Outside a notebook it behaves like ShowPlot.
func ShowPlots(cols int, w, h vg.Length, plots ...*plot.Plot) error {
	png, err := nmplot.RenderGrid(cols, w, h, "png", plots...)
	if err != nil {
		return err
	}
	return show(png)
}

func show(png []byte) error {
	if IsNotebook() {
		gonbui.DisplayPNG(png)
		gonbui.Sync()
		return nil
	}
	return savePNG(png)
}

var (
	saveMu  sync.Mutex
	saveSeq int
)

// savePNG writes png to the next free NMFLOW_PLOT_DIR/plot-NNN.png, if that variable is set. A
// figure appears whole or not at all: it is written (and fsynced) to a hidden staging file by
// traj.WriteAtomic, then hard-linked to its name, which fails instead of overwriting a figure
// that another process saved under that name meanwhile.
func savePNG(png []byte) error {
	dir := os.Getenv(EnvPlotDir)
	if dir == "" {
		return nil
	}
	saveMu.Lock()
	defer saveMu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("nb: %w", err)
	}
	staging := filepath.Join(dir, fmt.Sprintf(".plot-%d.png.staging", os.Getpid()))
	if err := traj.WriteAtomic(staging, func(w io.Writer) error { _, err := w.Write(png); return err }); err != nil {
		return fmt.Errorf("nb: %w", err)
	}
	defer os.Remove(staging)
	for {
		saveSeq++
		path := filepath.Join(dir, fmt.Sprintf("plot-%03d.png", saveSeq))
		err := os.Link(staging, path)
		if os.IsExist(err) {
			continue
		}
		if err != nil { // a file system without hard links: rename, if the name is free
			if _, serr := os.Lstat(path); serr == nil {
				continue
			}
			err = os.Rename(staging, path)
		}
		if err != nil {
			return fmt.Errorf("nb: writing %s: %w", path, err)
		}
		fmt.Fprintf(Stdout, "plot saved to %s\n", path)
		return nil
	}
}

// Table displays rows under header: an HTML table in a notebook, an aligned text table on
// stdout otherwise. Rows may be ragged; numeric cells are right-aligned.
func Table(header []string, rows [][]string) {
	if IsNotebook() {
		gonbui.DisplayHTML(TableHTML(header, rows))
		gonbui.Sync()
		return
	}
	fmt.Fprint(Stdout, TableText(header, rows))
}

// TableHTML returns the HTML rendering used by Table in a notebook.
func TableHTML(header []string, rows [][]string) string {
	ncol := numCols(header, rows)
	var sb strings.Builder
	sb.WriteString(`<table class="nmflow-table">`)
	if len(header) > 0 {
		sb.WriteString("<thead><tr>")
		for c := 0; c < ncol; c++ {
			sb.WriteString("<th>" + html.EscapeString(cell(header, c)) + "</th>")
		}
		sb.WriteString("</tr></thead>")
	}
	sb.WriteString("<tbody>")
	for _, row := range rows {
		sb.WriteString("<tr>")
		for c := 0; c < ncol; c++ {
			v := cell(row, c)
			if isNumber(v) {
				sb.WriteString(`<td style="text-align:right">` + html.EscapeString(v) + "</td>")
			} else {
				sb.WriteString(`<td style="text-align:left">` + html.EscapeString(v) + "</td>")
			}
		}
		sb.WriteString("</tr>")
	}
	sb.WriteString("</tbody></table>")
	return sb.String()
}

// TableText returns the aligned text rendering used by Table outside a notebook, e.g.
//
//	method  acc
//	------  -----
//	cfm     0.912
func TableText(header []string, rows [][]string) string {
	ncol := numCols(header, rows)
	if ncol == 0 {
		return ""
	}
	width := make([]int, ncol)
	numeric := make([]bool, ncol) // right-align columns whose non-empty body cells are all numbers
	for c := range numeric {
		numeric[c] = true
		seen := false
		for _, row := range rows {
			if v := cell(row, c); v != "" {
				seen = true
				numeric[c] = numeric[c] && isNumber(v)
			}
		}
		numeric[c] = numeric[c] && seen
	}
	measure := func(row []string) {
		for c := 0; c < ncol; c++ {
			width[c] = max(width[c], utf8.RuneCountInString(cell(row, c)))
		}
	}
	measure(header)
	for _, row := range rows {
		measure(row)
	}
	var sb strings.Builder
	line := func(row []string) {
		parts := make([]string, ncol)
		for c := 0; c < ncol; c++ {
			v := cell(row, c)
			gap := strings.Repeat(" ", width[c]-utf8.RuneCountInString(v))
			if numeric[c] {
				parts[c] = gap + v
			} else {
				parts[c] = v + gap
			}
		}
		sb.WriteString(strings.TrimRight(strings.Join(parts, "  "), " "))
		sb.WriteByte('\n')
	}
	if len(header) > 0 {
		line(header)
		rule := make([]string, ncol)
		for c := range rule {
			rule[c] = strings.Repeat("-", width[c])
		}
		line(rule)
	}
	for _, row := range rows {
		line(row)
	}
	return sb.String()
}

func numCols(header []string, rows [][]string) int {
	n := len(header)
	for _, r := range rows {
		n = max(n, len(r))
	}
	return n
}

func cell(row []string, c int) string {
	if c < len(row) {
		return row[c]
	}
	return ""
}

func isNumber(s string) bool {
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%"))
	if s == "" {
		return false
	}
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}
