package report

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/nmflow/nmflow/nmflow"
	"github.com/nmflow/nmflow/nmflow/backend"
)

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

func environment() Env {
	e := Env{Nmflow: nmflow.Version, GoMLX: nmflow.GoMLXVersion, Go: runtime.Version(),
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

// MadeOn is the backend the artifacts were made with (the first one that records it; else the
// backend this machine would run).
func (r Report) MadeOn() string {
	for _, a := range r.Artifacts {
		if b := a.Info["backend"]; b != "" {
			return b
		}
	}
	return r.Env.Backend
}

func reproduceSteps(rep Report) []string {
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
	switch made := strings.ToLower(rep.MadeOn()); {
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

func readmeText(rep Report, name string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "# nmflow report: %s\n\n", name)
	fmt.Fprintf(&sb, "Open `index.html` in a browser (self-contained: figures are embedded). `notebook.ipynb` is the executed notebook, `report.json` the provenance, `artifacts/` the files it used (those that fit the size budget).\n\n")
	fmt.Fprintf(&sb, "- notebook: %s (sha256 %s), scale %s\n", orDash(rep.Notebook.Source), rep.Notebook.SHA256[:16], rep.Scale)
	fmt.Fprintf(&sb, "- nmflow %s, GoMLX %s, %s, %s, %d CPUs; artifacts made on: %s\n", rep.Env.Nmflow, rep.Env.GoMLX, rep.Env.Go, rep.Env.OS, rep.Env.CPUs, rep.MadeOn())
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
