package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/report"
)

// The command passes its flags to report.Make (tested in nmflow/report) and prints the page's path
// or report.json.
func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	art := filepath.Join(dir, "artifacts", "ci")
	if err := os.MkdirAll(art, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(art, "t09-scores.csv"), []byte("acc\n0.9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	nbPath := filepath.Join(dir, "t09.ipynb")
	book := `{"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "gonb"}}, "cells": [
	  {"cell_type": "code", "execution_count": 1, "metadata": {}, "source": "nb.OutPath(\"t09-scores.csv\")", "outputs": []}]}`
	if err := os.WriteFile(nbPath, []byte(book), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "report")
	code, stdout, errs := runCLI(t, "report", "--notebook", nbPath, "--artifacts", art, "--out", out, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if rep.Scale != "ci" || rep.Notebook.CodeCells != 1 || len(rep.Artifacts) != 1 || !rep.Artifacts[0].Copied {
		t.Errorf("report %+v", rep)
	}
	if !strings.Contains(errs, "1 artifacts (1 copied)") {
		t.Errorf("stderr %q", errs)
	}
	code, stdout, errs = runCLI(t, "report", "--max-copy-mb", "0", "--artifacts", art, "--out", out, nbPath)
	if code != 0 || strings.TrimSpace(stdout) != filepath.Join(out, "index.html") || !strings.Contains(errs, "(0 copied)") {
		t.Errorf("positional notebook: exit %d, stdout %q, stderr %q", code, stdout, errs)
	}

	// report --artifacts art --out art --all used to copy the report into itself, 410 levels deep.
	code, _, errs = runCLI(t, "report", "--notebook", nbPath, "--artifacts", art, "--out", art, "--all")
	if code != 1 || !strings.Contains(errs, "inside the artifact folder") || strings.Contains(errs, "goroutine") {
		t.Errorf("--out inside --artifacts: exit %d, %q", code, errs)
	}
	if _, err := os.Stat(filepath.Join(art, "artifacts")); !os.IsNotExist(err) {
		t.Errorf("a refused report wrote into the artifact folder (%v)", err)
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
