package main

// nmflow report: turn an executed notebook and the artifacts it used into a folder a colleague can
// open (index.html, self-contained) and reproduce (report.json with versions, backend, seeds and
// content hashes; README.md with the commands).

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/nmflow/nmflow/nmflow"
	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/nb"
	"github.com/nmflow/nmflow/nmflow/traj"
)

func init() {
	commands["report"] = command{"turn an executed notebook and its artifacts into a shareable, reproducible HTML report", runReport}
}

// reportJSON is report.json: everything needed to rerun the notebook and compare the numbers.
type reportJSON struct {
	Format    string           `json:"format"`
	Created   string           `json:"created"`
	Notebook  reportNotebook   `json:"notebook"`
	Scale     string           `json:"scale"`
	Env       reportEnv        `json:"environment"`
	Artifacts []reportArtifact `json:"artifacts"`
	Reproduce []string         `json:"reproduce"`
}

type reportNotebook struct {
	Executed  string `json:"executed"`         // the executed .ipynb given to the command
	Source    string `json:"source,omitempty"` // the notebook in the repository it was run from
	SHA256    string `json:"sha256"`
	Kernel    string `json:"kernel"`
	CodeCells int    `json:"code_cells"`
	Errors    int    `json:"error_outputs"`
	Images    int    `json:"images"`
}

type reportEnv struct {
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

// reportArtifact is one file or folder of the artifact folder that the notebook refers to.
type reportArtifact struct {
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

func runReport(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("report", "report --notebook EXECUTED.ipynb [--artifacts DIR] [--out DIR] [--json]", stderr)
	nbPath := fs.String("notebook", "", "an executed notebook (.ipynb with outputs), e.g. _build/notebooks/notebooks/02-quickstart.ipynb")
	artDir := fs.String("artifacts", "", "the notebook's artifact folder (default $NMFLOW_OUT, else _build/artifacts/<scale>)")
	scale := fs.String("scale", "", "NMFLOW_SCALE the notebook ran at (default: $NMFLOW_SCALE, else the artifact folder's name)")
	out := fs.String("out", "", "report folder (default _build/reports/<notebook name>)")
	all := fs.Bool("all", false, "include every artifact of the folder, not only those the notebook names")
	maxCopy := fs.Float64("max-copy-mb", 200, "copy referenced artifacts into the report up to this many MB in all (0: copy none)")
	asJSON := fs.Bool("json", false, "print report.json on stdout")
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	if *nbPath == "" && fs.NArg() == 1 {
		*nbPath = fs.Arg(0)
	}
	if *nbPath == "" {
		fs.Usage()
		return errUsage
	}
	raw, err := os.ReadFile(*nbPath)
	if err != nil {
		return err
	}
	var book notebook
	if err := json.Unmarshal(raw, &book); err != nil {
		return fmt.Errorf("%s is not a notebook: %w", *nbPath, err)
	}
	if *scale == "" {
		*scale = os.Getenv(nb.EnvScale)
	}
	if *artDir == "" {
		if d := os.Getenv(nb.EnvOut); d != "" {
			*artDir = d
		} else {
			s := *scale
			if s == "" {
				s = "default"
			}
			*artDir = filepath.Join(repoRootOf("."), "_build", "artifacts", s)
		}
	}
	if *scale == "" {
		switch b := filepath.Base(*artDir); b {
		case "ci", "default", "full":
			*scale = b
		default:
			*scale = "default"
		}
	}
	name := strings.TrimSuffix(filepath.Base(*nbPath), ".ipynb")
	if *out == "" {
		*out = filepath.Join(repoRootOf("."), "_build", "reports", name)
	}
	if err := os.MkdirAll(filepath.Join(*out, "artifacts"), 0o755); err != nil {
		return err
	}

	rep := reportJSON{Format: "nmflow.report/1", Created: time.Now().UTC().Format(time.RFC3339), Scale: *scale}
	rep.Notebook = book.summary(*nbPath, raw)
	rep.Notebook.Source = sourceNotebook(*nbPath)
	rep.Env = environment()
	arts, err := findArtifacts(*artDir, book.text(), *all)
	if err != nil {
		return err
	}
	budget := int64(*maxCopy * (1 << 20))
	for i := range arts {
		a := &arts[i]
		if a.Bytes <= budget {
			if err := copyPath(filepath.Join(*artDir, a.Name), filepath.Join(*out, "artifacts", a.Name)); err != nil {
				return err
			}
			a.Copied, budget = true, budget-a.Bytes
		}
	}
	rep.Artifacts = arts
	rep.Reproduce = reproduceSteps(rep)

	// Each file is written atomically (traj.WriteAtomic): a report regenerated into the same
	// folder and killed half-way leaves every file either the old one or the new one, whole.
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		body []byte
	}{
		{"notebook.ipynb", raw}, {"report.json", append(js, '\n')},
		{"README.md", []byte(readmeText(rep, name))}, {"index.html", []byte(renderReport(book, rep, name))},
	} {
		if err := writeReportFile(filepath.Join(*out, f.name), f.body); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "report: %d code cells, %d figures, %d artifacts (%d copied) → %s\n",
		rep.Notebook.CodeCells, rep.Notebook.Images, len(arts), countCopied(arts), filepath.Join(*out, "index.html"))
	if *asJSON {
		return printJSON(stdout, rep)
	}
	fmt.Fprintf(stdout, "%s\n", filepath.Join(*out, "index.html"))
	return nil
}

func countCopied(arts []reportArtifact) int {
	n := 0
	for _, a := range arts {
		if a.Copied {
			n++
		}
	}
	return n
}

// ---- the notebook (nbformat 4) ----

type notebook struct {
	Cells    []nbCell `json:"cells"`
	Metadata struct {
		Kernelspec struct {
			Name        string `json:"name"`
			DisplayName string `json:"display_name"`
		} `json:"kernelspec"`
	} `json:"metadata"`
}

type nbCell struct {
	Type    string     `json:"cell_type"`
	Source  multiline  `json:"source"`
	Count   *int       `json:"execution_count"`
	Outputs []nbOutput `json:"outputs"`
}

type nbOutput struct {
	Type      string               `json:"output_type"`
	Name      string               `json:"name"`
	Text      multiline            `json:"text"`
	Data      map[string]multiline `json:"data"`
	EName     string               `json:"ename"`
	EValue    string               `json:"evalue"`
	Traceback []string             `json:"traceback"`
}

// multiline is nbformat's string-or-list-of-strings.
type multiline string

func (m *multiline) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*m = multiline(s)
		return nil
	}
	var parts []string
	if err := json.Unmarshal(b, &parts); err != nil {
		// Non-text payloads (e.g. application/json) are kept as their JSON text.
		*m = multiline(b)
		return nil
	}
	*m = multiline(strings.Join(parts, ""))
	return nil
}

func (b notebook) summary(path string, raw []byte) reportNotebook {
	s := reportNotebook{Executed: path, SHA256: sha256Hex(raw), Kernel: b.Metadata.Kernelspec.Name}
	for _, c := range b.Cells {
		if c.Type != "code" {
			continue
		}
		s.CodeCells++
		for _, o := range c.Outputs {
			if o.Type == "error" {
				s.Errors++
			}
			if _, ok := o.Data["image/png"]; ok {
				s.Images++
			} else if _, ok := o.Data["image/svg+xml"]; ok {
				s.Images++
			}
		}
	}
	return s
}

// text is every cell's source and every output's text, where artifact names are looked for.
func (b notebook) text() string {
	var sb strings.Builder
	for _, c := range b.Cells {
		sb.WriteString(string(c.Source))
		sb.WriteByte('\n')
		for _, o := range c.Outputs {
			sb.WriteString(string(o.Text))
			for mime, d := range o.Data {
				if strings.HasPrefix(mime, "text/") {
					sb.WriteString(string(d))
				}
			}
			sb.WriteByte('\n')
		}
	}
	return sb.String()
}

// ---- artifacts ----

// outPathPrefix finds nb.OutPath("prefix" — names built at run time start with such a literal.
var outPathPrefix = regexp.MustCompile(`OutPath\("([^"]+)"`)

// findArtifacts lists the entries of dir the notebook text names (or all of them) with metadata.
func findArtifacts(dir, text string, all bool) ([]reportArtifact, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var prefixes []string
	for _, m := range outPathPrefix.FindAllStringSubmatch(text, -1) {
		prefixes = append(prefixes, m[1])
	}
	var out []reportArtifact
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".state") {
			continue
		}
		used := all || mentions(text, name)
		for _, p := range prefixes {
			used = used || strings.HasPrefix(name, p)
		}
		if !used {
			continue
		}
		a, err := describeArtifact(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// mentions reports whether text names the file: name not preceded by another file-name character
// (so "t02-zoo.safetensors" does not count as naming "02-zoo.safetensors").
func mentions(text, name string) bool {
	for i := strings.Index(text, name); i >= 0; {
		if i == 0 || !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", rune(text[i-1])) {
			return true
		}
		j := strings.Index(text[i+1:], name)
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}

func describeArtifact(path string) (reportArtifact, error) {
	a := reportArtifact{Name: filepath.Base(path), Info: map[string]string{}}
	st, err := os.Stat(path)
	if err != nil {
		return a, err
	}
	if st.IsDir() {
		a.Kind = "folder"
		err := filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if i, e := d.Info(); e == nil {
					a.Bytes += i.Size()
				}
			}
			return err
		})
		if err != nil {
			return a, err
		}
		if b, err := os.ReadFile(filepath.Join(path, "model.json")); err == nil {
			a.Kind = "model"
			modelInfo(b, a.Info)
		}
		return a, nil
	}
	a.Bytes = st.Size()
	if strings.HasSuffix(path, ".safetensors") {
		a.Kind = "safetensors"
		if a.DataSHA256, err = tensorDataHash(path); err != nil {
			return a, err
		}
		if m, err := traj.ReadMeta(path); err == nil {
			a.Kind = m.Kind
			metaInfo(m, a.Info)
		}
		return a, nil
	}
	a.Kind = "file"
	b, err := os.ReadFile(path)
	if err != nil {
		return a, err
	}
	a.SHA256 = sha256Hex(b)
	return a, nil
}

// metaInfo picks what reproduces a trajectory or generated-weights file.
func metaInfo(m traj.Meta, info map[string]string) {
	set := func(k, v string) {
		if v != "" && v != "0" {
			info[k] = v
		}
	}
	set("nmflow", m.NmflowVersion)
	set("gomlx", m.GoMLXVersion)
	set("backend", m.Backend)
	set("created", m.Created)
	set("arch", m.Arch.String())
	set("parameters", fmt.Sprint(m.Layout.Size()))
	set("init", m.Init)
	set("dataset", m.Dataset.Name)
	set("seed", fmt.Sprint(m.Seed))
	if len(m.RunSeeds) > 0 {
		info["run_seeds"] = fmt.Sprintf("%d seeds, first %d", len(m.RunSeeds), m.RunSeeds[0])
	}
	if m.Optimizer.Name != "" {
		info["optimizer"] = fmt.Sprintf("%s lr %g momentum %g, batch %d, %d epochs", m.Optimizer.Name, m.Optimizer.LR,
			m.Optimizer.Momentum, m.Optimizer.BatchSize, m.Optimizer.Epochs)
	}
	for k, v := range m.Extra {
		info[k] = v
	}
}

// modelInfo reads the parts of a meta-model's model.json that identify the fit.
func modelInfo(b []byte, info map[string]string) {
	var m struct {
		Nmflow   string          `json:"nmflow_version"`
		GoMLX    string          `json:"gomlx_version"`
		Backend  string          `json:"backend"`
		Created  string          `json:"created"`
		Config   json.RawMessage `json:"config"`
		Steps    int             `json:"steps_done"`
		Wall     float64         `json:"wall_seconds"`
		History  []float64       `json:"loss_history"`
		BaseInfo struct {
			ZooSeed uint64 `json:"zoo_seed"`
			Runs    int    `json:"runs"`
		} `json:"base"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		info["error"] = "model.json: " + err.Error()
		return
	}
	info["nmflow"], info["gomlx"], info["backend"], info["created"] = m.Nmflow, m.GoMLX, m.Backend, m.Created
	info["config"] = string(m.Config)
	var cfg struct {
		Seed uint64 `json:"seed"`
	}
	if json.Unmarshal(m.Config, &cfg) == nil {
		info["seed"] = fmt.Sprint(cfg.Seed)
	}
	info["steps"] = fmt.Sprint(m.Steps)
	info["wall_seconds"] = fmt.Sprintf("%.1f", m.Wall)
	info["zoo_seed"] = fmt.Sprint(m.BaseInfo.ZooSeed)
	if n := len(m.History); n > 0 {
		info["final_loss"] = fmt.Sprintf("%.6g", m.History[n-1])
	}
}

// tensorDataHash hashes the bytes after a safetensors header (8-byte little-endian length, JSON).
func tensorDataHash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var n uint64
	if err := binary.Read(f, binary.LittleEndian, &n); err != nil {
		return "", fmt.Errorf("%s: not a safetensors file: %w", path, err)
	}
	if _, err := f.Seek(int64(n), io.SeekCurrent); err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(h, bufio.NewReader(f)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// copyPath copies a file or a folder tree.
func copyPath(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return traj.WriteAtomic(target, func(w io.Writer) error { _, err := io.Copy(w, f); return err })
	})
}

// writeReportFile writes b to path atomically (traj.WriteAtomic: temporary file, fsync, rename).
func writeReportFile(path string, b []byte) error {
	return traj.WriteAtomic(path, func(w io.Writer) error { _, err := w.Write(b); return err })
}

// ---- environment and reproduction ----

// repoRootOf is the folder holding go.mod above dir (dir itself if none).
func repoRootOf(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	for d := abs; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return abs
		}
	}
}

// sourceNotebook finds the notebook of the repository holding the working directory that an
// executed copy was made from: the runner writes NB_OUT/<path in repo>, so the longest tail of the
// copy's path that exists in the repository (outside its build folders) wins.
func sourceNotebook(executed string) string {
	abs, err := filepath.Abs(executed)
	if err != nil {
		return ""
	}
	root := repoRootOf(".")
	parts := strings.Split(filepath.ToSlash(abs), "/")
	for i := 1; i < len(parts); i++ {
		rel := filepath.Join(parts[i:]...)
		p := filepath.Join(root, rel)
		if p != abs && fileExists(p) && !strings.HasPrefix(rel, "_build") && !strings.HasPrefix(rel, "build") {
			return rel
		}
	}
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func environment() reportEnv {
	e := reportEnv{Nmflow: nmflow.Version, GoMLX: nmflow.GoMLXVersion, Go: runtime.Version(),
		OS: runtime.GOOS + "/" + runtime.GOARCH, CPUs: runtime.NumCPU(), Backend: backend.Current().String(),
		GoMLXEnv: os.Getenv("GOMLX_BACKEND"), GoExperimnt: os.Getenv("GOEXPERIMENT")}
	root := repoRootOf(".")
	if out, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output(); err == nil {
		e.GitCommit = strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
			e.GitDirty = len(strings.TrimSpace(string(st))) > 0
		}
	}
	return e
}

// backendOf is the backend the artifacts were made with (the first one that records it).
func backendOf(rep reportJSON) string {
	for _, a := range rep.Artifacts {
		if b := a.Info["backend"]; b != "" {
			return b
		}
	}
	return rep.Env.Backend
}

func reproduceSteps(rep reportJSON) []string {
	src := rep.Notebook.Source
	if src == "" {
		src = "<the notebook>"
	}
	var steps []string
	if rep.Env.GitCommit != "" {
		c := "git checkout " + rep.Env.GitCommit
		if rep.Env.GitDirty {
			c += "   # the report was made from a working tree with uncommitted changes"
		}
		steps = append(steps, c)
	}
	scale := ""
	if rep.Scale != "default" {
		scale = "NMFLOW_SCALE=" + rep.Scale + " "
	}
	be := ""
	switch made := strings.ToLower(backendOf(rep)); {
	case strings.Contains(made, "go portable") || strings.HasPrefix(made, "go"):
		be = "GOMLX_BACKEND=go "
	case strings.Contains(made, "cuda"):
		be = "GOMLX_BACKEND=xla:cuda "
	}
	steps = append(steps,
		"make deps kernel build",
		fmt.Sprintf("%s%sNB_OUT=_build/repro NMFLOW_OUT=_build/repro/artifacts scripts/run-notebooks.sh %s", scale, be, src),
		fmt.Sprintf("bin/nmflow report --notebook _build/repro/%s --artifacts _build/repro/artifacts --out _build/repro/report", src),
		"compare _build/repro/report/report.json with this report.json: equal data_sha256 means bit-identical weights (same backend and CPU kind); otherwise compare the numbers printed in the notebook",
	)
	return steps
}

func readmeText(rep reportJSON, name string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "# nmflow report: %s\n\n", name)
	fmt.Fprintf(&sb, "Open `index.html` in a browser (self-contained: figures are embedded). `notebook.ipynb` is the executed notebook, `report.json` the provenance, `artifacts/` the files it used (those that fit the size budget).\n\n")
	fmt.Fprintf(&sb, "- notebook: %s (sha256 %s), scale %s\n", orDash(rep.Notebook.Source), rep.Notebook.SHA256[:16], rep.Scale)
	fmt.Fprintf(&sb, "- nmflow %s, GoMLX %s, %s, %s, %d CPUs; artifacts made on: %s\n", rep.Env.Nmflow, rep.Env.GoMLX, rep.Env.Go, rep.Env.OS, rep.Env.CPUs, backendOf(rep))
	if rep.Env.GitCommit != "" {
		dirty := ""
		if rep.Env.GitDirty {
			dirty = " (with uncommitted changes)"
		}
		fmt.Fprintf(&sb, "- commit %s%s\n", rep.Env.GitCommit, dirty)
	}
	fmt.Fprintf(&sb, "\n## Reproduce\n\nFrom a checkout of the repository:\n\n```sh\n")
	for _, s := range rep.Reproduce {
		if strings.HasPrefix(s, "compare ") {
			fmt.Fprintf(&sb, "```\n\nThen %s.\n", s)
			return sb.String()
		}
		fmt.Fprintln(&sb, s)
	}
	sb.WriteString("```\n")
	return sb.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ---- HTML ----

const reportCSS = `body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:1050px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
pre{background:#f6f8fa;padding:.6em .8em;overflow-x:auto;border-radius:4px;font-size:85%;tab-size:4}
code{background:#f6f8fa;padding:0 .2em;border-radius:3px;font-size:90%}pre code{background:none;padding:0}
.cell{margin:1em 0}.prompt{color:#888;font:80% monospace;margin-bottom:.2em}
.src{border-left:3px solid #4a90d9}.stderr{background:#fff5f5;color:#933}.error{background:#fdd;color:#900}
.out img{max-width:100%}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em}
th{background:#f0f0f0}.prov td{overflow-wrap:anywhere}.prov td:first-child{font-weight:600;white-space:nowrap}.small{color:#666;font-size:85%}
h1{border-bottom:1px solid #ddd;padding-bottom:.2em}`

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

func renderReport(b notebook, rep reportJSON, name string) string {
	var sb strings.Builder
	sb.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>nmflow report: " + html.EscapeString(name) + "</title>")
	sb.WriteString("<style>" + reportCSS + "</style></head><body>\n")
	fmt.Fprintf(&sb, "<p class=\"small\">nmflow report · %s · <a href=\"#provenance\">provenance and how to reproduce</a></p>\n", html.EscapeString(rep.Created))
	for _, c := range b.Cells {
		src := string(c.Source)
		switch c.Type {
		case "markdown":
			sb.WriteString("<div class=\"cell md\">" + markdownHTML(src) + "</div>\n")
		case "code":
			count := " "
			if c.Count != nil {
				count = fmt.Sprint(*c.Count)
			}
			fmt.Fprintf(&sb, "<div class=\"cell\"><div class=\"prompt\">In [%s]:</div><pre class=\"src\"><code>%s</code></pre>\n", count, html.EscapeString(src))
			for _, o := range c.Outputs {
				sb.WriteString(outputHTML(o))
			}
			sb.WriteString("</div>\n")
		default:
			sb.WriteString("<pre>" + html.EscapeString(src) + "</pre>\n")
		}
	}
	sb.WriteString(provenanceHTML(rep))
	sb.WriteString("</body></html>\n")
	return sb.String()
}

func outputHTML(o nbOutput) string {
	switch o.Type {
	case "stream":
		cls := "out"
		if o.Name == "stderr" {
			cls = "out stderr"
		}
		return fmt.Sprintf("<pre class=\"%s\">%s</pre>\n", cls, html.EscapeString(ansi.ReplaceAllString(string(o.Text), "")))
	case "error":
		tb := ansi.ReplaceAllString(strings.Join(o.Traceback, "\n"), "")
		if tb == "" {
			tb = o.EName + ": " + o.EValue
		}
		return "<pre class=\"out error\">" + html.EscapeString(tb) + "</pre>\n"
	}
	d := o.Data
	switch {
	case d["image/png"] != "":
		return "<div class=\"out\"><img alt=\"figure\" src=\"data:image/png;base64," + strings.TrimSpace(string(d["image/png"])) + "\"></div>\n"
	case d["image/svg+xml"] != "":
		return "<div class=\"out\">" + string(d["image/svg+xml"]) + "</div>\n"
	case d["text/html"] != "":
		return "<div class=\"out\">" + string(d["text/html"]) + "</div>\n"
	case d["text/markdown"] != "":
		return "<div class=\"out\">" + markdownHTML(string(d["text/markdown"])) + "</div>\n"
	case d["text/plain"] != "":
		return "<pre class=\"out\">" + html.EscapeString(string(d["text/plain"])) + "</pre>\n"
	}
	return ""
}

func provenanceHTML(rep reportJSON) string {
	var sb strings.Builder
	row := func(k, v string) {
		if v != "" {
			sb.WriteString("<tr><td>" + html.EscapeString(k) + "</td><td>" + html.EscapeString(v) + "</td></tr>")
		}
	}
	sb.WriteString("<h1 id=\"provenance\">Provenance</h1>\n<table class=\"prov\">")
	row("notebook", orDash(rep.Notebook.Source)+" (executed copy "+rep.Notebook.Executed+")")
	row("notebook sha256", rep.Notebook.SHA256)
	row("kernel", rep.Notebook.Kernel)
	row("cells", fmt.Sprintf("%d code cells, %d figures, %d error outputs", rep.Notebook.CodeCells, rep.Notebook.Images, rep.Notebook.Errors))
	row("NMFLOW_SCALE", rep.Scale)
	row("artifacts made on", backendOf(rep))
	row("versions", fmt.Sprintf("nmflow %s, GoMLX %s, %s", rep.Env.Nmflow, rep.Env.GoMLX, rep.Env.Go))
	row("report made on", fmt.Sprintf("%s, %d CPUs, backend %s", rep.Env.OS, rep.Env.CPUs, rep.Env.Backend))
	commit := rep.Env.GitCommit
	if rep.Env.GitDirty {
		commit += " (with uncommitted changes)"
	}
	row("git commit", commit)
	row("GOEXPERIMENT", rep.Env.GoExperimnt)
	sb.WriteString("</table>\n<h2>Artifacts</h2>\n")
	if len(rep.Artifacts) == 0 {
		sb.WriteString("<p>The notebook names no file of its artifact folder.</p>\n")
	}
	for _, a := range rep.Artifacts {
		copied := "not copied (over the size budget)"
		if a.Copied {
			copied = "copied to artifacts/" + a.Name
		}
		fmt.Fprintf(&sb, "<h3>%s</h3><p class=\"small\">%s, %s, %s</p><table class=\"prov\">", html.EscapeString(a.Name), html.EscapeString(a.Kind), humanBytes(a.Bytes), html.EscapeString(copied))
		row("tensor data sha256", a.DataSHA256)
		row("sha256", a.SHA256)
		keys := make([]string, 0, len(a.Info))
		for k := range a.Info {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			row(k, a.Info[k])
		}
		sb.WriteString("</table>\n")
	}
	sb.WriteString("<h2>How to reproduce</h2>\n<p>From a checkout of the repository (Debian 12 with Go; see README.md, “Reproducible analyses”):</p><pre>")
	for _, s := range rep.Reproduce {
		if strings.HasPrefix(s, "compare ") {
			sb.WriteString("</pre><p>Then " + html.EscapeString(s) + ".</p>\n")
			return sb.String()
		}
		sb.WriteString(html.EscapeString(s) + "\n")
	}
	sb.WriteString("</pre>\n")
	return sb.String()
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// ---- a small Markdown renderer: headings, paragraphs, lists, fenced code, tables, inline code,
// bold, italics and links; what notebooks' prose uses. Anything else shows as text.

var (
	mdCode   = regexp.MustCompile("`([^`]+)`")
	mdImage  = regexp.MustCompile(`!\[([^\]]*)\]\(([^)\s]+)\)`)
	mdLink   = regexp.MustCompile(`\[([^\]]+)\]\(([^)\s]+)\)`)
	mdBold   = regexp.MustCompile(`\*\*([^*]+)\*\*`)
	mdItalic = regexp.MustCompile(`(^|[^*\w])\*([^*\s][^*]*)\*`)
	mdOList  = regexp.MustCompile(`^\d+\.\s+`)
	mdTRule  = regexp.MustCompile(`^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$`)
)

func mdInline(s string) string {
	var codes []string
	s = mdCode.ReplaceAllStringFunc(s, func(m string) string {
		codes = append(codes, "<code>"+html.EscapeString(m[1:len(m)-1])+"</code>")
		return fmt.Sprintf("\x00%d\x00", len(codes)-1)
	})
	s = html.EscapeString(s)
	s = mdImage.ReplaceAllString(s, `<img alt="$1" src="$2">`)
	s = mdLink.ReplaceAllString(s, `<a href="$2">$1</a>`)
	s = mdBold.ReplaceAllString(s, "<strong>$1</strong>")
	s = mdItalic.ReplaceAllString(s, "$1<em>$2</em>")
	for i, c := range codes {
		s = strings.Replace(s, fmt.Sprintf("\x00%d\x00", i), c, 1)
	}
	return s
}

func markdownHTML(src string) string {
	lines := strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n")
	var sb, para strings.Builder
	flush := func() {
		if para.Len() > 0 {
			sb.WriteString("<p>" + mdInline(para.String()) + "</p>\n")
			para.Reset()
		}
	}
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		trim := strings.TrimSpace(line)
		switch {
		case trim == "":
			flush()
		case strings.HasPrefix(trim, "```"):
			flush()
			var code []string
			for i++; i < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[i]), "```"); i++ {
				code = append(code, lines[i])
			}
			sb.WriteString("<pre><code>" + html.EscapeString(strings.Join(code, "\n")) + "</code></pre>\n")
		case strings.HasPrefix(trim, "#"):
			flush()
			level := len(trim) - len(strings.TrimLeft(trim, "#"))
			if level > 6 {
				level = 6
			}
			fmt.Fprintf(&sb, "<h%d>%s</h%d>\n", level, mdInline(strings.TrimSpace(trim[level:])), level)
		case strings.HasPrefix(trim, "|") && i+1 < len(lines) && mdTRule.MatchString(strings.TrimSpace(lines[i+1])):
			flush()
			sb.WriteString("<table><thead><tr>")
			for _, c := range tableCells(trim) {
				sb.WriteString("<th>" + mdInline(c) + "</th>")
			}
			sb.WriteString("</tr></thead><tbody>")
			for i += 2; i < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i]), "|"); i++ {
				sb.WriteString("<tr>")
				for _, c := range tableCells(strings.TrimSpace(lines[i])) {
					sb.WriteString("<td>" + mdInline(c) + "</td>")
				}
				sb.WriteString("</tr>")
			}
			i--
			sb.WriteString("</tbody></table>\n")
		case strings.HasPrefix(trim, "- ") || strings.HasPrefix(trim, "* ") || mdOList.MatchString(trim):
			flush()
			tag := "ul"
			if mdOList.MatchString(trim) {
				tag = "ol"
			}
			sb.WriteString("<" + tag + ">")
			for i < len(lines) {
				t := strings.TrimSpace(lines[i])
				var item string
				switch {
				case strings.HasPrefix(t, "- ") || strings.HasPrefix(t, "* "):
					item = t[2:]
				case mdOList.MatchString(t):
					item = mdOList.ReplaceAllString(t, "")
				default:
					item = ""
				}
				if item == "" {
					break
				}
				// Continuation lines: indented, not a new item, not blank.
				for i+1 < len(lines) && strings.HasPrefix(lines[i+1], " ") && strings.TrimSpace(lines[i+1]) != "" {
					next := strings.TrimSpace(lines[i+1])
					if strings.HasPrefix(next, "- ") || strings.HasPrefix(next, "* ") || mdOList.MatchString(next) {
						break
					}
					item += " " + next
					i++
				}
				sb.WriteString("<li>" + mdInline(item) + "</li>")
				i++
			}
			i--
			sb.WriteString("</" + tag + ">\n")
		default:
			if para.Len() > 0 {
				para.WriteByte(' ')
			}
			para.WriteString(trim)
		}
	}
	flush()
	return sb.String()
}

func tableCells(row string) []string {
	row = strings.TrimSpace(row)
	row = strings.TrimPrefix(row, "|")
	row = strings.TrimSuffix(row, "|")
	cells := strings.Split(row, "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	return cells
}
