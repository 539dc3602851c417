package report_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/nmflow/nmflow/nmflow/report"
)

// A notebook that wrote one artifact becomes a report folder with the artifact copied and hashed.
func Example() {
	dir, err := os.MkdirTemp("", "report-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	art := filepath.Join(dir, "artifacts")
	if err := os.MkdirAll(art, 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(art, "scores.csv"), []byte("seed,acc\n1,0.91\n"), 0o644); err != nil {
		log.Fatal(err)
	}
	book := `{"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "gonb"}}, "cells": [
	  {"cell_type": "markdown", "metadata": {}, "source": ["# Scores\n", "| seed | acc |\n", "|---|---|\n", "| 1 | 0.91 |\n"]},
	  {"cell_type": "code", "execution_count": 1, "metadata": {}, "source": "f := nb.OutPath(\"scores.csv\")",
	   "outputs": [{"output_type": "stream", "name": "stdout", "text": "acc 0.91\n"}]}]}`
	nbPath := filepath.Join(dir, "scores.ipynb")
	if err := os.WriteFile(nbPath, []byte(book), 0o644); err != nil {
		log.Fatal(err)
	}

	opt := report.Options{Notebook: nbPath, Artifacts: art, Scale: "ci", Out: filepath.Join(dir, "report"), MaxCopyBytes: 1 << 20}
	rep, err := report.Make(opt)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("code cells:", rep.Notebook.CodeCells, "kernel:", rep.Notebook.Kernel)
	for _, a := range rep.Artifacts {
		fmt.Printf("%s: %s, %d bytes, copied %v, sha256 %s…\n", a.Name, a.Kind, a.Bytes, a.Copied, a.SHA256[:12])
	}
	for _, f := range []string{"index.html", "report.json", "README.md", "notebook.ipynb", "artifacts/scores.csv"} {
		_, err := os.Stat(filepath.Join(opt.Out, f))
		fmt.Println(f, err == nil)
	}
	// Output:
	// code cells: 1 kernel: gonb
	// scores.csv: file, 16 bytes, copied true, sha256 674b8a4ec613…
	// index.html true
	// report.json true
	// README.md true
	// notebook.ipynb true
	// artifacts/scores.csv true
}
