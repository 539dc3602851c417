package main

import (
	"fmt"
	"io"

	"github.com/nmflow/nmflow/nmflow/report"
)

func init() {
	commands["report"] = command{"turn an executed notebook and its artifacts into a shareable, reproducible HTML report", runReport}
}

func runReport(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("report", "report --notebook EXECUTED.ipynb [--artifacts DIR] [--out DIR] [--json]", stderr)
	nbPath := fs.String("notebook", "", "an executed notebook (.ipynb with outputs), e.g. _build/notebooks/notebooks/02-quickstart.ipynb")
	artDir := fs.String("artifacts", "", "the notebook's artifact folder (default $NMFLOW_OUT, else _build/artifacts/<scale>)")
	scale := fs.String("scale", "", "NMFLOW_SCALE the notebook ran at (default: $NMFLOW_SCALE, else the artifact folder's name)")
	out := fs.String("out", "", "report folder, outside the artifact folder (default _build/reports/<notebook name>)")
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
	opt := report.Options{Notebook: *nbPath, Artifacts: *artDir, Scale: *scale, Out: *out, All: *all,
		MaxCopyBytes: int64(*maxCopy * (1 << 20))}.WithDefaults()
	rep, err := report.Make(opt)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "report: %d code cells, %d figures, %d artifacts (%d copied) → %s\n",
		rep.Notebook.CodeCells, rep.Notebook.Images, len(rep.Artifacts), rep.Copied(), opt.Index())
	if *asJSON {
		return printJSON(stdout, rep)
	}
	fmt.Fprintln(stdout, opt.Index())
	return nil
}
