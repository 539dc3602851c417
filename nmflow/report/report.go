package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nmflow/nmflow/nmflow/nb"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// Format names the layout of report.json.
const Format = "nmflow.report/1"

// Report is report.json: everything needed to rerun the notebook and compare the numbers.
type Report struct {
	Format    string     `json:"format"`
	Created   string     `json:"created"`
	Notebook  Notebook   `json:"notebook"`
	Scale     string     `json:"scale"`
	Env       Env        `json:"environment"`
	Artifacts []Artifact `json:"artifacts"`
	Reproduce []string   `json:"reproduce"`
}

// Notebook summarizes the executed notebook.
type Notebook struct {
	Executed  string `json:"executed"`         // the executed .ipynb given to Make
	Source    string `json:"source,omitempty"` // the notebook in the repository it was run from
	SHA256    string `json:"sha256"`
	Kernel    string `json:"kernel"`
	CodeCells int    `json:"code_cells"`
	Errors    int    `json:"error_outputs"`
	Images    int    `json:"images"`
}

// Env is the machine and checkout the report was made on.
type Env struct {
	Nmflow      string `json:"nmflow"`
	GoMLX       string `json:"gomlx"`
	Go          string `json:"go"`
	OS          string `json:"os"`
	CPUs        int    `json:"cpus"`
	Backend     string `json:"backend_now"` // what this machine would run; each artifact records its own
	GitCommit   string `json:"git_commit,omitempty"`
	GitDirty    bool   `json:"git_dirty,omitempty"`
	GoMLXEnv    string `json:"GOMLX_BACKEND,omitempty"`
	GoExperimnt string `json:"GOEXPERIMENT,omitempty"`
}

// Artifact is one file or folder of the artifact folder that the notebook refers to.
type Artifact struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"` // zoo, generated, safetensors, model, file, folder
	Bytes int64  `json:"bytes"`
	// DataSHA256 hashes a safetensors file's tensor bytes only (not its header, whose metadata
	// holds a creation time): equal hashes mean bit-identical numbers. SHA256 hashes whole files.
	DataSHA256 string            `json:"data_sha256,omitempty"`
	SHA256     string            `json:"sha256,omitempty"`
	Copied     bool              `json:"copied"`
	Info       map[string]string `json:"info,omitempty"` // versions, backend, seeds, sizes, settings
}

// Options says which notebook to report and where. Empty fields take the defaults WithDefaults
// gives.
type Options struct {
	Notebook  string // an executed notebook (.ipynb with outputs); required
	Artifacts string // the notebook's artifact folder: $NMFLOW_OUT, else <repo>/_build/artifacts/<scale>
	Scale     string // NMFLOW_SCALE it ran at: $NMFLOW_SCALE, else the artifact folder's name (ci, default, full)
	Out       string // the report folder: <repo>/_build/reports/<notebook name>
	All       bool   // include every artifact of the folder, not only those the notebook names
	// MaxCopyBytes bounds the bytes of artifacts copied into the report (0: copy none).
	MaxCopyBytes int64
}

// WithDefaults fills the empty fields of o (see Options). <repo> is the folder holding go.mod
// above the working directory.
func (o Options) WithDefaults() Options {
	if o.Scale == "" {
		o.Scale = os.Getenv(nb.EnvScale)
	}
	if o.Artifacts == "" {
		if d := os.Getenv(nb.EnvOut); d != "" {
			o.Artifacts = d
		} else {
			s := o.Scale
			if s == "" {
				s = "default"
			}
			o.Artifacts = filepath.Join(repoRootOf("."), "_build", "artifacts", s)
		}
	}
	if o.Scale == "" {
		switch b := filepath.Base(o.Artifacts); b {
		case "ci", "default", "full":
			o.Scale = b
		default:
			o.Scale = "default"
		}
	}
	if o.Out == "" && o.Notebook != "" {
		o.Out = filepath.Join(repoRootOf("."), "_build", "reports", notebookName(o.Notebook))
	}
	return o
}

// Index is the path of the report's HTML page.
func (o Options) Index() string { return filepath.Join(o.Out, "index.html") }

func notebookName(path string) string {
	return strings.TrimSuffix(filepath.Base(path), ".ipynb")
}

// Make writes the report folder o.Out (after WithDefaults) and returns what it wrote to
// report.json. Every file is written atomically (traj.WriteAtomic): a report regenerated into the
// same folder and killed half-way leaves each file either the old one or the new one, whole.
func Make(o Options) (Report, error) {
	o = o.WithDefaults()
	if o.Notebook == "" {
		return Report{}, fmt.Errorf("no notebook given: name an executed .ipynb")
	}
	if err := checkOut(o.Out, o.Artifacts); err != nil {
		return Report{}, err
	}
	raw, err := os.ReadFile(o.Notebook)
	if err != nil {
		return Report{}, err
	}
	book, err := parseNotebook(raw)
	if err != nil {
		return Report{}, fmt.Errorf("%s is not a notebook: %w", o.Notebook, err)
	}
	if err := os.MkdirAll(filepath.Join(o.Out, "artifacts"), 0o755); err != nil {
		return Report{}, err
	}
	name := notebookName(o.Notebook)
	rep := Report{Format: Format, Created: time.Now().UTC().Format(time.RFC3339), Scale: o.Scale}
	rep.Notebook = book.summary(o.Notebook, raw)
	rep.Notebook.Source = sourceNotebook(o.Notebook)
	rep.Env = environment()
	arts, err := findArtifacts(o.Artifacts, book.text(), o.All)
	if err != nil {
		return Report{}, err
	}
	budget := o.MaxCopyBytes
	for i := range arts {
		a := &arts[i]
		if a.Bytes <= budget {
			if err := copyPath(filepath.Join(o.Artifacts, a.Name), filepath.Join(o.Out, "artifacts", a.Name)); err != nil {
				return Report{}, err
			}
			a.Copied, budget = true, budget-a.Bytes
		}
	}
	rep.Artifacts = arts
	rep.Reproduce = reproduceSteps(rep)

	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return Report{}, err
	}
	for _, f := range []struct {
		name string
		body []byte
	}{
		{"notebook.ipynb", raw}, {"report.json", append(js, '\n')},
		{"README.md", []byte(readmeText(rep, name))}, {"index.html", []byte(renderHTML(book, rep, name))},
	} {
		if err := writeFile(filepath.Join(o.Out, f.name), f.body); err != nil {
			return Report{}, err
		}
	}
	return rep, nil
}

// checkOut refuses a report folder that overlaps the artifact folder: a report inside the
// artifacts would copy its own copies into itself (without end, with All), and artifacts inside
// the report's artifacts/ would be copied onto themselves.
func checkOut(out, artifacts string) error {
	o, a := absPath(out), absPath(artifacts)
	if within(o, a) {
		return fmt.Errorf("the report folder %s is inside the artifact folder %s: the report would copy itself; choose --out outside %s", out, artifacts, artifacts)
	}
	if within(a, filepath.Join(o, "artifacts")) {
		return fmt.Errorf("the artifact folder %s is inside the report's artifacts/ folder (%s): the report would copy the artifacts onto themselves; choose another --out", artifacts, filepath.Join(out, "artifacts"))
	}
	return nil
}

// absPath is p absolute with its links resolved (as far as it exists).
func absPath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	// Resolve the longest existing prefix, so that a folder not made yet compares right too.
	rest := ""
	for d := abs; ; d = filepath.Dir(d) {
		if r, err := filepath.EvalSymlinks(d); err == nil {
			return filepath.Join(r, rest)
		}
		if filepath.Dir(d) == d {
			return abs
		}
		rest = filepath.Join(filepath.Base(d), rest)
	}
}

// within reports whether p is dir or below it (both clean and absolute).
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// writeFile writes b to path atomically (traj.WriteAtomic: temporary file, fsync, rename).
func writeFile(path string, b []byte) error {
	return traj.WriteAtomic(path, func(w io.Writer) error { _, err := w.Write(b); return err })
}

// Copied counts the artifacts copied into the report.
func (r Report) Copied() int {
	n := 0
	for _, a := range r.Artifacts {
		if a.Copied {
			n++
		}
	}
	return n
}
