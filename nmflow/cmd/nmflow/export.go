package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/nmflow/nmflow/nmflow/internal/outpath"
	"github.com/nmflow/nmflow/nmflow/interop"
	"github.com/nmflow/nmflow/nmflow/traj"
)

func init() {
	commands["export"] = command{"write generated (or zoo) weights as a PyTorch state_dict, safetensors or .npz", runExport}
}

func runExport(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("export", "export --generated G --format "+strings.Join(interop.ExportFormats(), "|")+" --out F [--index I] [--keys source|layout|sequential] [--keys-from ZOO]", stderr)
	gen := fs.String("generated", "", "generated weights (nmflow sample) or a zoo (nmflow zoo/import)")
	format := fs.String("format", interop.ExportPT, "output format: "+strings.Join(interop.ExportFormats(), ", "))
	out := fs.String("out", "", "output file")
	index := fs.Int("index", -1, "export only net I (a plain state dict); -1: all nets, stacked on a leading axis ([N, ...], or [R, K+1, ...] for a zoo)")
	keys := fs.String("keys", "", "key names: source (those of the imported checkpoints, so the module that saved them loads the file; the default when recorded), layout (fc1.weight: nn.Sequential of named modules) or sequential (1.weight: plain nn.Sequential); see docs/interop.md")
	keysFrom := fs.String("keys-from", "", "an imported zoo whose source key names to use (for generated weights, which do not record them)")
	asJSON := fs.Bool("json", false, "print a JSON summary on stdout")
	force := fs.Bool("force", false, "replace an existing --out that is an nmflow zoo or generated-weights file")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	switch {
	case *gen == "":
		return fmt.Errorf("--generated must name a weights file")
	case !slices.Contains(interop.ExportFormats(), *format):
		return fmt.Errorf("unknown --format %q (want %s)", *format, strings.Join(interop.ExportFormats(), ", "))
	case *keys != "" && *keys != interop.NamesSource && *keys != interop.NamesLayout && *keys != interop.NamesSequential:
		return fmt.Errorf("unknown --keys %q (want %s, %s or %s)", *keys, interop.NamesSource, interop.NamesLayout, interop.NamesSequential)
	case *index < -1:
		return fmt.Errorf("--index must be ≥ 0, or -1 for all nets; got %d", *index)
	}
	if err := checkOutput("--out", *out, false, outpath.In("--generated", *gen)); err != nil {
		return err
	}
	if err := checkReplace("--out", *out, "", *force, nil); err != nil {
		return err
	}
	w, lead, meta, err := readNets(*gen)
	if err != nil {
		return err
	}
	p := meta.Layout.Size()
	n := len(w) / p
	if *index >= n {
		return fmt.Errorf("--index %d is out of range: %s holds %d nets (0..%d)", *index, *gen, n, n-1)
	}
	if *index >= 0 {
		w, lead = w[*index*p:(*index+1)*p], nil
	}
	naming, rename, err := exportNames(meta, *keys, *keysFrom)
	if err != nil {
		return err
	}
	*keys = naming
	sd, err := interop.FromFlat(meta.Layout, w, lead, rename)
	if err != nil {
		return err
	}
	layoutJSON, _ := json.Marshal(meta.Layout)
	fileMeta := map[string]string{"source": *gen, "arch": meta.Arch.String(), "keys": *keys, "nmflow_layout": string(layoutJSON)}
	if err := interop.Write(*out, *format, sd, fileMeta); err != nil {
		return err
	}
	shape := append([]int{}, lead...)
	summary := map[string]any{"out": *out, "format": *format, "from": *gen, "nets": n, "params": p, "index": *index,
		"leading_axes": shape, "keys": *keys, "arch": meta.Arch.String(), "tensors": sd.Names}
	if *asJSON {
		return printJSON(stdout, summary)
	}
	what := fmt.Sprintf("all %d nets stacked %v", n, lead)
	if *index >= 0 {
		what = fmt.Sprintf("net %d of %d", *index, n)
	}
	fmt.Fprintf(stdout, "wrote %s (%s): %s of %s, tensors %s\n", *out, *format, what, meta.Arch, strings.Join(sd.Names, ", "))
	return nil
}

// readNets reads generated weights ([N, P], leading axes [N]) or a zoo ([R, K+1, P]).
func readNets(path string) (w []float32, lead []int, meta traj.Meta, err error) {
	if meta, err = traj.ReadMeta(path); err != nil {
		return nil, nil, meta, err
	}
	if meta.Kind == traj.KindZoo {
		z, err := traj.ReadZoo(path)
		if err != nil {
			return nil, nil, meta, err
		}
		return z.Weights, []int{z.Runs, z.Checkpoints}, z.Meta, nil
	}
	g, err := traj.ReadGenerated(path)
	if err != nil {
		return nil, nil, meta, err
	}
	return g.Weights, []int{g.N}, g.Meta, nil
}

// exportNames picks the key names of an export: the source keys recorded by an import (of the
// file itself or of --keys-from) unless --keys says otherwise.
func exportNames(meta traj.Meta, keys, keysFrom string) (string, func(string) string, error) {
	src := meta
	if keysFrom != "" {
		zm, err := traj.ReadMeta(keysFrom)
		if err != nil {
			return "", nil, fmt.Errorf("--keys-from: %w", err)
		}
		a, _ := json.Marshal(zm.Layout)
		b, _ := json.Marshal(meta.Layout)
		if string(a) != string(b) {
			return "", nil, fmt.Errorf("--keys-from %s is a zoo of %s, the weights are %s: its keys do not fit", keysFrom, zm.Arch, meta.Arch)
		}
		src = zm
	}
	recorded, err := interop.SourceKeys(src)
	if err != nil {
		return "", nil, err
	}
	if keys == "" {
		keys = interop.NamesLayout
		if recorded != nil {
			keys = interop.NamesSource
		}
	}
	if keys != interop.NamesSource {
		rename, err := interop.Rename(meta.Arch, keys)
		return keys, rename, err
	}
	if recorded == nil {
		return "", nil, fmt.Errorf("--keys source: no source key names recorded (only a zoo made by nmflow import has them; for generated weights pass --keys-from with the imported zoo); use --keys layout or sequential")
	}
	rename, err := interop.SourceRename(meta.Layout, recorded)
	return keys, rename, err
}
