// Command nmflow trains zoos of small networks, records their trajectories and (in later
// subcommands) fits meta-models on them. Progress goes to stderr, results to stdout; --json gives
// machine-readable results.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/nmflow/nmflow/nmflow"
	"github.com/nmflow/nmflow/nmflow/backend"
)

type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"data":    {"fetch and verify datasets (nmflow data fetch mnist|fashion-mnist|cifar10)", runData},
	"zoo":     {"train R base networks at once and record their trajectories", runZoo},
	"align":   {"permute a zoo's hidden units into one order (weight matching); functions unchanged", runAlign},
	"fit":     {"fit a meta-model (flow over weights) on a zoo's trajectories; resumable", runFit},
	"sample":  {"generate weights with a fitted meta-model", runSample},
	"eval":    {"evaluate generated weights against the zoo: accuracy, W1, novelty", runEval},
	"version": {"print versions and the backend that would run", runVersion},
}

// errUsage marks errors whose message is the help text already printed.
var errUsage = errors.New("usage")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) (code int) {
	// A panic (GoMLX reports many errors that way) becomes one line; NMFLOW_DEBUG=1 shows where.
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "nmflow: %s\n", panicMessage(r))
			if os.Getenv("NMFLOW_DEBUG") != "" {
				fmt.Fprintf(stderr, "%s", debug.Stack())
			} else {
				fmt.Fprintf(stderr, "(an unexpected failure: rerun with NMFLOW_DEBUG=1 for the stack trace, and report it if the message does not say what to do)\n")
			}
			code = 1
		}
	}()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "nmflow: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	if err := cmd.run(args[1:], stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if !errors.Is(err, errUsage) {
			fmt.Fprintf(stderr, "nmflow %s: %v\n", args[0], err)
		}
		return 1
	}
	return 0
}

// panicMessage is the first line of a recovered panic value.
func panicMessage(r any) string {
	msg := fmt.Sprint(r)
	if err, ok := r.(error); ok {
		msg = err.Error()
	}
	first, _, _ := strings.Cut(msg, "\n")
	return first
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "nmflow %s: generative models over neural-network weights\n\nUsage: nmflow <command> [flags]\n\nCommands:\n", nmflow.Version)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nRun 'nmflow <command> --help' for its flags. Environment: NMFLOW_DATA, NMFLOW_CACHE, GOMLX_BACKEND, NMFLOW_MEMORY_GIB (memory budget of the size checks), NMFLOW_DEBUG=1 (stack traces).\n")
}

// newFlags makes a FlagSet whose errors and help go to stderr, with a usage line.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: nmflow %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags and rejects stray positional arguments beyond allowed.
func parse(fs *flag.FlagSet, args []string, allowed int) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if err := checkFiniteFlags(fs); err != nil {
		return err
	}
	if fs.NArg() > allowed {
		return fmt.Errorf("unexpected arguments %q (flags go before positional arguments; see --help)", strings.Join(fs.Args()[allowed:], " "))
	}
	return nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", "version [--json]", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	_, info, err := backend.Default()
	if err != nil {
		return err
	}
	v := map[string]string{"nmflow": nmflow.Version, "gomlx": nmflow.GoMLXVersion, "backend": info.Name, "backend_config": info.Config}
	if *asJSON {
		return printJSON(stdout, v)
	}
	fmt.Fprintf(stdout, "nmflow %s (GoMLX %s)\nbackend: %s\n", nmflow.Version, nmflow.GoMLXVersion, info)
	return nil
}
