package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"

	"gonum.org/v1/plot/vg"

	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/bench"
	"github.com/nmflow/nmflow/nmflow/internal/outpath"
	"github.com/nmflow/nmflow/nmflow/plot"
)

func init() {
	commands["bench"] = command{"time the four hot paths (zoo, fit, sample, eval); --compare pytorch.json prints ratios; --scaling: cost against R and P", runBench}
}

func runBench(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", "bench [--workloads zoo,fit,sample,eval] [--quick] [--iters N] [--json] [--compare pytorch.json] | bench --scaling [--quick] [--plot scaling.png] [--json]", stderr)
	workloads := fs.String("workloads", strings.Join(bench.Workloads, ","), "comma-separated workloads to run")
	quick := fs.Bool("quick", false, "tiny sizes (seconds): a smoke test, not a measurement")
	iters := fs.Int("iters", 0, "timed calls per case (0: the workload's default)")
	seed := fs.Uint64("seed", 1, "seed of the synthetic data, inits and weights")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	compare := fs.String("compare", "", "a report (--json output of this command or of bench/pytorch/bench.py) to divide by; with --from, no run")
	from := fs.String("from", "", "read nmflow's report from this JSON file instead of running the workloads")
	scaling := fs.Bool("scaling", false, "sweep the zoo step over R and the fit step over P: seconds per step, peak memory, log-log slopes")
	plotTo := fs.String("plot", "", "with --scaling: write the log-log plots to this PNG")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof bin/nmflow FILE)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	for _, o := range []struct{ flag, path string }{{"--plot", *plotTo}, {"--cpuprofile", *cpuProfile}} {
		if o.path == "" {
			continue
		}
		if err := checkOutput(o.flag, o.path, false, outpath.In("--compare", *compare), outpath.In("--from", *from)); err != nil {
			return err
		}
		if err := checkReplace(o.flag, o.path, "", false, nil); err != nil {
			return err
		}
	}
	if *iters < 0 {
		return fmt.Errorf("--iters must be ≥ 0 (0: the workload's default), got %d", *iters)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *plotTo != "" && !*scaling {
		return fmt.Errorf("--plot draws the --scaling sweep; add --scaling")
	}
	if *scaling {
		return runScaling(*quick, *iters, *seed, *asJSON, *plotTo, stdout, stderr)
	}
	var rep bench.Report
	if *from != "" {
		if err := readReport(*from, &rep); err != nil {
			return err
		}
	} else {
		be, info, err := backend.Default()
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		rs, err := bench.Run(ctx, be, bench.Options{Workloads: strings.Split(*workloads, ","), Quick: *quick, Iters: *iters, Seed: *seed, Log: stderr})
		if err != nil {
			return err
		}
		rep = bench.Report{Impl: "nmflow", Backend: info.Name, Quick: *quick, Results: rs}
	}
	if *compare != "" {
		var ref bench.Report
		if err := readReport(*compare, &ref); err != nil {
			return err
		}
		if ref.Quick != rep.Quick {
			fmt.Fprintf(stderr, "nmflow bench: warning: comparing a quick report with a full one\n")
		}
		if bench.Compare(stdout, rep, ref) == 0 {
			return fmt.Errorf("no case of %s matches a case of nmflow's report", *compare)
		}
		return nil
	}
	if *asJSON {
		return printJSON(stdout, rep)
	}
	bench.Table(stdout, rep.Results)
	return nil
}

func readReport(path string, rep *bench.Report) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, rep); err != nil {
		return fmt.Errorf("%s is not a bench report: %w", path, err)
	}
	return nil
}

// scalingFrom are the smallest sizes the slopes use: below them the fixed per-step costs dominate.
var scalingFrom = map[string]int{"zoo": 16, "fit": 3000}

func runScaling(quick bool, steps int, seed uint64, asJSON bool, plotTo string, stdout, stderr io.Writer) error {
	be, info, err := backend.Default()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	pts, err := bench.Scaling(ctx, be, bench.ScalingOptions{Quick: quick, Steps: steps, Seed: seed, Log: stderr})
	if err != nil {
		return err
	}
	from := scalingFrom
	if quick {
		from = nil
	}
	rep := bench.ScalingReport{Impl: "nmflow", Backend: info.Name, Quick: quick, Points: pts, Slopes: bench.Slopes(pts, from)}
	if plotTo != "" {
		plots, err := bench.ScalingPlots(pts, from)
		if err != nil {
			return err
		}
		if err := plot.SaveGrid(plotTo, 2, 5*vg.Inch, 3.6*vg.Inch, plots...); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "nmflow bench: wrote %s\n", plotTo)
	}
	if asJSON {
		return printJSON(stdout, rep)
	}
	bench.ScalingTable(stdout, rep)
	return nil
}
