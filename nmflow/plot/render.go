package plot

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Render draws p at size w×h in format "png" (at DefaultDPI) or "svg" and returns the bytes.
// Output is deterministic: the same plot gives the same bytes.
func Render(p *gplot.Plot, w, h vg.Length, format string) ([]byte, error) {
	return RenderDPI(p, w, h, format, DefaultDPI)
}

// RenderDPI is Render with an explicit PNG resolution; a PNG is round(w/inch*dpi) pixels wide.
func RenderDPI(p *gplot.Plot, w, h vg.Length, format string, dpi int) ([]byte, error) {
	if p == nil {
		return nil, fmt.Errorf("plot: nil plot")
	}
	return renderCells(1, w, h, format, dpi, []*gplot.Plot{p})
}

// RenderGrid draws plots on a grid with cols columns, each cell w×h (so the image is
// cols*w wide), aligning the data areas of each row and column. Nil plots leave a cell empty.
func RenderGrid(cols int, w, h vg.Length, format string, plots ...*gplot.Plot) ([]byte, error) {
	return renderCells(cols, w, h, format, DefaultDPI, plots)
}

// Save renders p to path, the format taken from the extension (.png or .svg). The file is
// written to a temporary name and renamed, so readers never see a partial figure.
func Save(p *gplot.Plot, w, h vg.Length, path string) error {
	b, err := Render(p, w, h, formatOf(path))
	if err != nil {
		return err
	}
	return writeAtomic(path, b)
}

// SaveGrid is RenderGrid to a file (format from the extension), written atomically.
func SaveGrid(path string, cols int, w, h vg.Length, plots ...*gplot.Plot) error {
	b, err := RenderGrid(cols, w, h, formatOf(path), plots...)
	if err != nil {
		return err
	}
	return writeAtomic(path, b)
}

func formatOf(path string) string {
	return strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
}

// canvas is what both back ends give us: something to draw on and to serialize.
type canvas interface {
	vg.CanvasSizer
	io.WriterTo
}

func newCanvas(w, h vg.Length, format string, dpi int) (canvas, error) {
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("plot: size %v×%v must be positive", w, h)
	}
	switch strings.ToLower(format) {
	case "png":
		if dpi <= 0 {
			return nil, fmt.Errorf("plot: dpi %d must be positive", dpi)
		}
		return vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(dpi))}, nil
	case "svg":
		return vgsvg.New(w, h), nil
	default:
		return nil, fmt.Errorf("plot: unsupported format %q (want png or svg)", format)
	}
}

func renderCells(cols int, w, h vg.Length, format string, dpi int, plots []*gplot.Plot) ([]byte, error) {
	some := false
	for _, p := range plots {
		some = some || p != nil
	}
	if !some {
		return nil, fmt.Errorf("plot: no plots to render")
	}
	if cols <= 0 {
		return nil, fmt.Errorf("plot: grid needs a positive number of columns, got %d", cols)
	}
	cols = min(cols, len(plots))
	rows := (len(plots) + cols - 1) / cols
	c, err := newCanvas(vg.Length(cols)*w, vg.Length(rows)*h, format, dpi)
	if err != nil {
		return nil, err
	}
	dc := draw.New(c)
	if len(plots) == 1 {
		plots[0].Draw(dc)
	} else {
		grid := make([][]*gplot.Plot, rows)
		for j := range grid {
			grid[j] = make([]*gplot.Plot, cols)
			for i := range grid[j] {
				if k := j*cols + i; k < len(plots) {
					grid[j][i] = plots[k]
				}
			}
		}
		// Half the padding between cells plus a margin at the edges matches single plots.
		pad := vg.Points(6)
		tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: 2 * pad, PadY: 2 * pad,
			PadTop: pad, PadBottom: pad, PadLeft: pad, PadRight: pad}
		cells := gplot.Align(grid, tiles, dc)
		for j := range grid {
			for i, p := range grid[j] {
				if p != nil {
					p.Draw(cells[j][i])
				}
			}
		}
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("plot: encode %s: %w", format, err)
	}
	return buf.Bytes(), nil
}

// writeAtomic writes b to a temporary file beside path and renames it into place.
func writeAtomic(path string, b []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("plot: write %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("plot: write %s: %w", path, err)
	}
	// CreateTemp makes 0600 files; figures are meant to be shared.
	if err = os.Chmod(tmp, 0o644); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}
