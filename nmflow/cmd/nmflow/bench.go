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
	fs := newFlags("bench", "bench [--workloads zoo,fit,sample,eval] [--quick] [--iters N] [--json] [--compare pytorch.json] | bench --from n1.json,n2.json,... --compare p1.json,p2.json,... | bench --scaling [--quick] [--plot scaling.png] [--json]", stderr)
	workloads := fs.String("workloads", strings.Join(bench.Workloads, ","), "comma-separated workloads to run")
	quick := fs.Bool("quick", false, "tiny sizes (seconds): a smoke test, not a measurement")
	iters := fs.Int("iters", 0, "timed calls per case (0: the workload's default)")
	seed := fs.Uint64("seed", 1, "seed of the synthetic data, inits and weights")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	compare := fs.String("compare", "", "reference reports (bench/pytorch/bench.py's JSON), comma-separated, one per round: prints medians, ranges, ratios, roofline and check agreement, and fails on any problem")
	from := fs.String("from", "", "read nmflow's reports (comma-separated, one per round, as many as --compare) instead of running the workloads")
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
	var ours []bench.Report
	if *from != "" {
		var err error
		if ours, err = readReports(*from); err != nil {
			return err
		}
	} else {
		be, info, err := backend.Default()
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		rep, err := bench.RunReport(ctx, be, info.Name, bench.Options{Workloads: strings.Split(*workloads, ","), Quick: *quick, Iters: *iters, Seed: *seed, Log: stderr})
		if err != nil {
			return err
		}
		ours = []bench.Report{rep}
	}
	if *compare != "" {
		refs, err := readReports(*compare)
		if err != nil {
			return err
		}
		sum, err := bench.Summarize(ours, refs)
		if err != nil {
			return fmt.Errorf("%w (--from and --compare list the rounds' reports in the same order)", err)
		}
		if *asJSON {
			if err := printJSON(stdout, sum); err != nil {
				return err
			}
		} else {
			sum.Write(stdout)
		}
		if len(sum.Problems) > 0 {
			return fmt.Errorf("the comparison has %d problems (listed above): it is not a fair, checked measurement", len(sum.Problems))
		}
		return nil
	}
	if len(ours) != 1 {
		return fmt.Errorf("--from lists %d reports: give as many --compare reports, one per round", len(ours))
	}
	rep := ours[0]
	if *asJSON {
		return printJSON(stdout, rep)
	}
	bench.Table(stdout, rep.Results)
	return nil
}

// readReports reads the comma-separated report files of paths.
func readReports(paths string) ([]bench.Report, error) {
	var reps []bench.Report
	for _, p := range strings.Split(paths, ",") {
		var rep bench.Report
		if err := readReport(p, &rep); err != nil {
			return nil, err
		}
		reps = append(reps, rep)
	}
	return reps, nil
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
