package report

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// A 1×1 PNG, as GoNB sends figures (base64 in display_data).
const pixelPNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

func writeReportFixture(t *testing.T) (nbPath, artDir string) {
	t.Helper()
	dir := t.TempDir()
	artDir = filepath.Join(dir, "artifacts", "ci")
	if err := os.MkdirAll(filepath.Join(artDir, "t09-model-a", "ckpt"), 0o755); err != nil {
		t.Fatal(err)
	}
	l := arch.NewLayout(arch.Segment{Name: "w", Shape: []int{3}, FanIn: 3, Kind: arch.Weight})
	z := &traj.Zoo{
		Meta: traj.Meta{Kind: traj.KindZoo, Layout: l, Init: arch.InitPyTorch, Seed: 42, Backend: "go (test)",
			Dataset: traj.DatasetMeta{Name: "synthetic"}},
		Runs: 2, Checkpoints: 2, Params: 3, Weights: []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, Steps: []int64{0, 5},
	}
	if err := traj.WriteZoo(filepath.Join(artDir, "t09-zoo.safetensors"), z); err != nil {
		t.Fatal(err)
	}
	model := `{"nmflow_version":"0.1.0","backend":"go (test)","config":{"method":"cfm","seed":7},"steps_done":12,"loss_history":[2,1,0.5],"base":{"zoo_seed":42}}`
	for name, body := range map[string]string{
		"t09-model-a/model.json": model, "t09-model-a/ckpt/x.bin": "weights", "unrelated.txt": "not used",
		"09-zoo.safetensors": "a suffix of a name the notebook uses, not a name it uses",
	} {
		if err := os.WriteFile(filepath.Join(artDir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cells := []map[string]any{
		{"cell_type": "markdown", "metadata": map[string]any{}, "source": []string{
			"# Title with `code`\n", "\n", "Some **bold** and *italic* text, a [link](https://example.com).\n", "\n",
			"- item one\n", "  continued\n", "- item `two`\n", "\n", "| a | b |\n", "|---|---|\n", "| 1 | <2> |\n"}},
		{"cell_type": "code", "execution_count": 1, "metadata": map[string]any{}, "source": "var zooPath = nb.OutPath(\"t09-zoo.safetensors\")\nm := nb.OutPath(\"t09-model-\" + c)",
			"outputs": []map[string]any{
				{"output_type": "stream", "name": "stdout", "text": []string{"accuracy 0.9123\n"}},
				{"output_type": "stream", "name": "stderr", "text": "\x1b[31mwarning\x1b[0m\n"},
				{"output_type": "display_data", "metadata": map[string]any{}, "data": map[string]any{"image/png": pixelPNG + "\n", "text/plain": "<image>"}},
				{"output_type": "display_data", "metadata": map[string]any{}, "data": map[string]any{"text/html": []string{"<table class=\"nmflow-table\"><tr><td>x</td></tr></table>"}}},
			}},
	}
	nbJSON, err := json.Marshal(map[string]any{"cells": cells, "nbformat": 4, "nbformat_minor": 5,
		"metadata": map[string]any{"kernelspec": map[string]any{"name": "gonb", "display_name": "Go (gonb)"}}})
	if err != nil {
		t.Fatal(err)
	}
	nbPath = filepath.Join(dir, "t09-example.ipynb")
	if err := os.WriteFile(nbPath, nbJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	return nbPath, artDir
}

func TestMake(t *testing.T) {
	nbPath, artDir := writeReportFixture(t)
	out := filepath.Join(t.TempDir(), "report")
	opt := Options{Notebook: nbPath, Artifacts: artDir, Out: out, MaxCopyBytes: 200 << 20}
	rep, err := Make(opt)
	if err != nil {
		t.Fatal(err)
	}
	var onDisk Report
	if b, err := os.ReadFile(filepath.Join(out, "report.json")); err != nil || json.Unmarshal(b, &onDisk) != nil {
		t.Fatalf("report.json: %v\n%s", err, b)
	}
	if onDisk.Notebook != rep.Notebook || len(onDisk.Artifacts) != len(rep.Artifacts) {
		t.Errorf("report.json %+v differs from the returned report %+v", onDisk.Notebook, rep.Notebook)
	}
	if rep.Scale != "ci" || rep.Notebook.CodeCells != 1 || rep.Notebook.Images != 1 || rep.Notebook.Kernel != "gonb" {
		t.Errorf("report %+v", rep.Notebook)
	}
	if len(rep.Artifacts) != 2 {
		t.Fatalf("artifacts %+v, want the zoo (named) and the model folder (OutPath prefix)", rep.Artifacts)
	}
	byName := map[string]Artifact{}
	for _, a := range rep.Artifacts {
		byName[a.Name] = a
		if !a.Copied {
			t.Errorf("%s not copied", a.Name)
		}
	}
	zooArt, model := byName["t09-zoo.safetensors"], byName["t09-model-a"]
	if zooArt.Kind != traj.KindZoo || zooArt.Info["seed"] != "42" || zooArt.Info["backend"] != "go (test)" || len(zooArt.DataSHA256) != 64 {
		t.Errorf("zoo artifact %+v", zooArt)
	}
	if model.Kind != "model" || model.Info["seed"] != "7" || model.Info["final_loss"] != "0.5" || model.Info["steps"] != "12" {
		t.Errorf("model artifact %+v", model)
	}
	if _, err := os.Stat(filepath.Join(out, "artifacts", "t09-model-a", "ckpt", "x.bin")); err != nil {
		t.Errorf("model folder not copied: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "artifacts", "unrelated.txt")); !os.IsNotExist(err) {
		t.Errorf("an artifact the notebook does not name was copied (%v)", err)
	}
	page, err := os.ReadFile(filepath.Join(out, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`<img alt="figure" src="data:image/png;base64,` + pixelPNG + `">`,
		`<h1>Title with <code>code</code></h1>`, "<strong>bold</strong>", "<em>italic</em>",
		`<a href="https://example.com">link</a>`, "<li>item one\ncontinued</li>", "<li>item <code>two</code></li>",
		"<td>&lt;2&gt;</td>", `<table class="nmflow-table">`, "accuracy 0.9123", `<pre class="out stderr">warning`,
		"tensor data sha256", zooArt.DataSHA256, "How to reproduce", "NMFLOW_SCALE=ci GOMLX_BACKEND=go ",
	} {
		if !strings.Contains(string(page), want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	for _, f := range []string{"notebook.ipynb", "report.json", "README.md"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}

	// Every file is written atomically (traj.WriteAtomic): regenerating the report into the same
	// folder replaces each file whole (a new file renamed over the old: the stale 0600 README.md
	// comes back 0644, which a write in place would not do), with the same content (report.json
	// differs only in the creation time), and leaves no temporary file.
	first := map[string][]byte{}
	for _, f := range []string{"notebook.ipynb", "README.md", "report.json", filepath.Join("artifacts", "t09-model-a", "ckpt", "x.bin")} {
		if first[f], err = os.ReadFile(filepath.Join(out, f)); err != nil {
			t.Fatal(err)
		}
	}
	if src, _ := os.ReadFile(nbPath); string(first["notebook.ipynb"]) != string(src) {
		t.Errorf("notebook.ipynb is not a copy of the notebook")
	}
	if string(first[filepath.Join("artifacts", "t09-model-a", "ckpt", "x.bin")]) != "weights" {
		t.Errorf("copied x.bin holds %q", first[filepath.Join("artifacts", "t09-model-a", "ckpt", "x.bin")])
	}
	if err := os.WriteFile(filepath.Join(out, "README.md"), []byte("stale"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Make(opt); err != nil {
		t.Fatalf("second report: %v", err)
	}
	created := regexp.MustCompile(`"created": "[^"]*"`)
	err = filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		if strings.Contains(d.Name(), ".tmp-") {
			t.Errorf("temporary file %s left in the report", rel)
		}
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v (%v), want 0644", rel, st.Mode().Perm(), err)
		}
		if want, ok := first[rel]; ok {
			got, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if rel == "report.json" {
				got, want = created.ReplaceAll(got, nil), created.ReplaceAll(want, nil)
			}
			if string(got) != string(want) {
				t.Errorf("%s differs after regenerating the report:\n%s\nwant\n%s", rel, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The same zoo written again has a new creation time in its header but the same tensor bytes.
	again := filepath.Join(t.TempDir(), "again.safetensors")
	z, err := traj.ReadZoo(filepath.Join(artDir, "t09-zoo.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	z.Meta.Created = "2000-01-01T00:00:00Z"
	if err := traj.WriteZoo(again, z); err != nil {
		t.Fatal(err)
	}
	if h, err := TensorDataHash(again); err != nil || h != zooArt.DataSHA256 {
		t.Errorf("data hash of a rewritten zoo %s (%v), want %s", h, err, zooArt.DataSHA256)
	}
}

func TestMakeErrors(t *testing.T) {
	if _, err := Make(Options{Out: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "no notebook") {
		t.Errorf("no notebook: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.ipynb")
	if err := os.WriteFile(bad, []byte("not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Make(Options{Notebook: bad, Out: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "not a notebook") {
		t.Errorf("bad notebook: %v", err)
	}
}

// A report folder inside the artifact folder (or the artifacts inside the report's copies) is
// refused before anything is written: with All the report would copy its own copies into itself,
// one level deeper each time.
func TestMakeRefusesOverlappingFolders(t *testing.T) {
	nbPath, artDir := writeReportFixture(t)
	before := treeOf(t, artDir)
	for _, c := range []struct{ out, art string }{
		{artDir, artDir},
		{filepath.Join(artDir, "report"), artDir},
		{filepath.Join(artDir, "t09-model-a", "r"), artDir},
		{filepath.Dir(filepath.Dir(artDir)), artDir}, // artDir is <out>/artifacts/ci
	} {
		_, err := Make(Options{Notebook: nbPath, Artifacts: c.art, Out: c.out, All: true, MaxCopyBytes: 1 << 30})
		if err == nil || !strings.Contains(err.Error(), "choose") {
			t.Errorf("--out %s --artifacts %s: %v, want a refusal that says what to choose", c.out, c.art, err)
		}
	}
	if after := treeOf(t, artDir); after != before {
		t.Errorf("a refused report wrote into the artifact folder:\n%s\nwas\n%s", after, before)
	}
	// A sibling whose name starts like the artifact folder's is not inside it.
	rep, err := Make(Options{Notebook: nbPath, Artifacts: artDir, Out: artDir + "-report", All: true, MaxCopyBytes: 1 << 30})
	if err != nil {
		t.Fatalf("sibling report folder: %v", err)
	}
	// All includes the file that is named .safetensors but is not one: a plain file, with why.
	for _, a := range rep.Artifacts {
		if a.Name == "09-zoo.safetensors" && (a.Kind != "file" || len(a.SHA256) != 64 || !strings.Contains(a.Info["error"], "not a safetensors file")) {
			t.Errorf("not a safetensors file: %+v", a)
		}
	}
	if len(rep.Artifacts) != 4 {
		t.Errorf("All: %d artifacts, want 4 (zoo, model folder, unrelated.txt, 09-zoo.safetensors)", len(rep.Artifacts))
	}
}

// treeOf lists the paths below dir.
func treeOf(t *testing.T, dir string) string {
	t.Helper()
	var sb strings.Builder
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		sb.WriteString(p + "\n")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

func TestMarkdownHTML(t *testing.T) {
	cases := map[string]string{
		// Raw HTML is left out, text is escaped.
		"plain <b> & text":            "<p>plain <!-- raw HTML omitted --> &amp; text</p>\n",
		"1. first\n2. second":         "<ol>\n<li>first</li>\n<li>second</li>\n</ol>\n",
		"```\nx := 1 < 2\n```":        "<pre><code>x := 1 &lt; 2\n</code></pre>\n",
		"a_b_c stays":                 "<p>a_b_c stays</p>\n",
		"`**not bold**` **bold**":     "<p><code>**not bold**</code> <strong>bold</strong></p>\n",
		"### three\nline one\nline 2": "<h3>three</h3>\n<p>line one\nline 2</p>\n",
		"in `_build/<scale>/x`":       "<p>in <code>_build/&lt;scale&gt;/x</code></p>\n",
	}
	for in, want := range cases {
		if got := markdownHTML(in); got != want {
			t.Errorf("markdownHTML(%q) = %q, want %q", in, got, want)
		}
	}
}
