package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/bench"
)

func init() {
	commands["bench"] = command{"time the four hot paths (zoo, fit, sample, eval); --compare pytorch.json prints ratios", runBench}
}

func runBench(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", "bench [--workloads zoo,fit,sample,eval] [--quick] [--iters N] [--json] [--compare pytorch.json]", stderr)
	workloads := fs.String("workloads", strings.Join(bench.Workloads, ","), "comma-separated workloads to run")
	quick := fs.Bool("quick", false, "tiny sizes (seconds): a smoke test, not a measurement")
	iters := fs.Int("iters", 0, "timed calls per case (0: the workload's default)")
	seed := fs.Uint64("seed", 1, "seed of the synthetic data, inits and weights")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	compare := fs.String("compare", "", "a report (--json output of this command or of bench/pytorch/bench.py) to divide by; with --from, no run")
	from := fs.String("from", "", "read nmflow's report from this JSON file instead of running the workloads")
	if err := parse(fs, args, 0); err != nil {
		return err
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
