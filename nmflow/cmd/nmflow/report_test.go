package main

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

func TestReportCommand(t *testing.T) {
	nbPath, artDir := writeReportFixture(t)
	out := filepath.Join(t.TempDir(), "report")
	code, stdout, errs := runCLI(t, "report", "--notebook", nbPath, "--artifacts", artDir, "--out", out, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep reportJSON
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if rep.Scale != "ci" || rep.Notebook.CodeCells != 1 || rep.Notebook.Images != 1 || rep.Notebook.Kernel != "gonb" {
		t.Errorf("report %+v", rep.Notebook)
	}
	if len(rep.Artifacts) != 2 {
		t.Fatalf("artifacts %+v, want the zoo (named) and the model folder (OutPath prefix)", rep.Artifacts)
	}
	byName := map[string]reportArtifact{}
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
		`<a href="https://example.com">link</a>`, "<li>item one continued</li>", "<li>item <code>two</code></li>",
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
	if code, _, errs := runCLI(t, "report", "--notebook", nbPath, "--artifacts", artDir, "--out", out); code != 0 {
		t.Fatalf("second report: exit %d: %s", code, errs)
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
	if h, err := tensorDataHash(again); err != nil || h != zooArt.DataSHA256 {
		t.Errorf("data hash of a rewritten zoo %s (%v), want %s", h, err, zooArt.DataSHA256)
	}
}

func TestReportErrors(t *testing.T) {
	if code, _, errs := runCLI(t, "report"); code == 0 || !strings.Contains(errs, "Usage") {
		t.Errorf("no notebook: exit %d, %q", code, errs)
	}
	bad := filepath.Join(t.TempDir(), "bad.ipynb")
	if err := os.WriteFile(bad, []byte("not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runCLI(t, "report", "--notebook", bad, "--out", t.TempDir()); code == 0 || !strings.Contains(errs, "not a notebook") {
		t.Errorf("bad notebook: exit %d, %q", code, errs)
	}
	if code, _, errs := runCLI(t, "report", "--help"); code != 0 || !strings.Contains(errs, "--artifacts") {
		t.Errorf("--help: exit %d, %q", code, errs)
	}
}

func TestMarkdownHTML(t *testing.T) {
	cases := map[string]string{
		"plain <b> & text":            "<p>plain &lt;b&gt; &amp; text</p>\n",
		"1. first\n2. second":         "<ol><li>first</li><li>second</li></ol>\n",
		"```\nx := 1 < 2\n```":        "<pre><code>x := 1 &lt; 2</code></pre>\n",
		"a_b_c and 2*3*4 stay":        "<p>a_b_c and 2*3*4 stay</p>\n",
		"`**not bold**` **bold**":     "<p><code>**not bold**</code> <strong>bold</strong></p>\n",
		"### three\nline one\nline 2": "<h3>three</h3>\n<p>line one line 2</p>\n",
	}
	for in, want := range cases {
		if got := markdownHTML(in); got != want {
			t.Errorf("markdownHTML(%q) = %q, want %q", in, got, want)
		}
	}
}
