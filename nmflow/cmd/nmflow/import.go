package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/internal/outpath"
	"github.com/nmflow/nmflow/nmflow/interop"
	"github.com/nmflow/nmflow/nmflow/traj"
)

func init() {
	commands["import"] = command{"import PyTorch/safetensors/NumPy/GoMLX checkpoints as a trajectory zoo", runImport}
}

func runImport(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("import", "import --from DIR|FILE --arch mlp|cnn [--input C,H,W] [--map key=segment,...] --out zoo.safetensors", stderr)
	from := fs.String("from", "", "a folder of per-run, per-epoch checkpoints (run0/epoch0.pt, ...; see docs/interop.md), a GoMLX checkpoint folder, or one file (a state dict, or weights stacked [R] or [R,K+1])")
	archKind := fs.String("arch", "mlp", "base architecture: mlp or cnn (widths are read off the weights)")
	input := fs.String("input", "", "input shape C,H,W (required for a cnn; an mlp defaults to its first layer's width)")
	hidden := fs.String("hidden", "", "expected hidden widths, comma-separated (checked against the weights)")
	channels := fs.String("channels", "", "expected cnn conv channels, comma-separated (checked against the weights)")
	classes := fs.Int("classes", 0, "expected number of classes (checked against the weights; 0: any)")
	pattern := fs.String("pattern", "", "file naming of a folder, e.g. 'run{run}/epoch{epoch}.pt' (default: try "+strings.Join(interop.DefaultPatterns, ", ")+")")
	perEpoch := fs.Int("steps-per-epoch", 0, "optimizer steps per epoch, to record {epoch} numbers as training steps (0: keep epoch numbers)")
	initLaw := fs.String("init", arch.InitPyTorch, "init law the runs started from: "+strings.Join(arch.Laws(), ", ")+" or unknown")
	dataset := fs.String("dataset", "", "name of the dataset the runs were trained on (metadata)")
	prefix := fs.String("prefix", "", "key prefix of the weights, e.g. 'model.' (default: found automatically)")
	allowUnexpected := fs.Bool("allow-unexpected", false, "accept tensors the architecture does not use (they are reported, not imported)")
	keyMap := fs.String("map", "", "state the mapping by hand: key=segment pairs ('0.weight=fc1.weight,0.bias=fc1.bias', or per module 'net.fc_in=fc1'), or a file of such lines (default: matched by order and shape)")
	out := fs.String("out", "zoo.safetensors", "output trajectory file")
	asJSON := fs.Bool("json", false, "print a JSON summary on stdout")
	force := fs.Bool("force", false, "replace an existing --out that is not an nmflow zoo")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	switch {
	case *from == "":
		return fmt.Errorf("--from must name a checkpoint folder or file")
	case *archKind != "mlp" && *archKind != "cnn":
		return fmt.Errorf("unknown --arch %q (want mlp or cnn)", *archKind)
	case *perEpoch < 0:
		return fmt.Errorf("--steps-per-epoch must be ≥ 0, got %d", *perEpoch)
	case *classes < 0:
		return fmt.Errorf("--classes must be ≥ 0, got %d", *classes)
	case *initLaw != "unknown" && !slices.Contains(arch.Laws(), *initLaw):
		return fmt.Errorf("unknown --init %q (want %s or unknown)", *initLaw, strings.Join(arch.Laws(), ", "))
	}
	if err := checkOutput("--out", *out, false, outpath.In("--from", *from)); err != nil {
		return err
	}
	if err := checkReplace("--out", *out, traj.KindZoo, *force, nil); err != nil {
		return err
	}
	st, err := os.Stat(*from)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	keys, err := interop.ParseKeyMap(*keyMap)
	if err != nil {
		return fmt.Errorf("--map: %w", err)
	}
	in, err := arch.ParseWidths(*input)
	if err != nil {
		return fmt.Errorf("--input: %w", err)
	}
	sample := *from
	if st.IsDir() {
		if sample, err = interop.SampleFile(*from); err != nil {
			return err
		}
	}
	sd, err := interop.Read(sample)
	if err != nil {
		return err
	}
	spec, err := interop.InferSpec(sd, *archKind, in)
	if err != nil {
		return err
	}
	if err := expectWidths(spec, *hidden, *channels, *classes); err != nil {
		return fmt.Errorf("%s: %w", sample, err)
	}
	law := *initLaw
	if law == "unknown" {
		law = ""
	}
	opt := interop.AssembleOptions{Spec: spec, Pattern: *pattern, StepsPerEpoch: *perEpoch, Init: law, Dataset: *dataset,
		Map: interop.MapOptions{Prefix: *prefix, AllowUnexpected: *allowUnexpected, Keys: keys}}
	z, zr, err := interop.Import(*from, opt)
	if err != nil {
		return err
	}
	rep := zr.First
	summary := map[string]any{"pattern": zr.Pattern, "files": zr.Files, "metrics": zr.Metrics, "runs_numbers": zr.Runs}
	fmt.Fprintln(stderr, rep)
	if err := traj.WriteZoo(*out, z); err != nil {
		return err
	}
	summary["out"], summary["from"], summary["arch"], summary["runs"], summary["checkpoints"], summary["params"], summary["steps"] =
		*out, *from, spec.String(), z.Runs, z.Checkpoints, z.Params, z.Steps
	mapping := make(map[string]string, len(rep.Matched))
	for _, m := range rep.Matched {
		mapping[m.Key] = m.Segment
	}
	summary["prefix"], summary["naming"], summary["init"], summary["mapping"] = rep.Prefix, rep.Naming, law, mapping
	summary["container"], summary["ignored_tensors"], summary["unexpected_tensors"], summary["numbers"] = rep.Container, len(rep.Ignored), len(rep.Unexpected), len(rep.Numbers)
	if *asJSON {
		return printJSON(stdout, summary)
	}
	fmt.Fprintf(stdout, "wrote %s: %d runs × %d checkpoints × %d params (%s), steps %v, from %s\n",
		*out, z.Runs, z.Checkpoints, z.Params, spec, z.Steps, *from)
	return nil
}

// expectWidths checks user-given widths against the ones read off the weights.
func expectWidths(s arch.Spec, hidden, channels string, classes int) error {
	for _, c := range []struct {
		flag, val string
		got       []int
	}{{"--hidden", hidden, s.Hidden}, {"--channels", channels, s.Channels}} {
		if c.val == "" {
			continue
		}
		want, err := arch.ParseWidths(c.val)
		if err != nil {
			return fmt.Errorf("%s: %w", c.flag, err)
		}
		if !slices.Equal(want, c.got) {
			return fmt.Errorf("the weights have widths %v, %s says %v", c.got, c.flag, want)
		}
	}
	if classes > 0 && classes != s.Classes {
		return fmt.Errorf("the weights have %d outputs, --classes says %d", s.Classes, classes)
	}
	return nil
}
