package interop

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// DefaultPatterns are the zoo folder layouts AssembleZoo recognizes without a Pattern, tried in
// order (the one that matches the most files wins). {run} is the run number, {epoch} or {step} the
// checkpoint's position in training, * any characters except '/' (usually the extension).
var DefaultPatterns = []string{
	"run{run}/epoch{epoch}.*",
	"run{run}/step{step}.*",
	"run{run}_epoch{epoch}.*",
	"run{run}_step{step}.*",
	"seed{run}/epoch{epoch}.*",
	"seed{run}/step{step}.*",
}

// checkpointExts are the extensions that make a file a checkpoint: one of those not matching the
// pattern is an error, never silently left out of the zoo.
var checkpointExts = map[string]bool{".pt": true, ".pth": true, ".bin": true, ".ckpt": true,
	".safetensors": true, ".npz": true, ".npy": true}

// AssembleOptions describe how to build a zoo from checkpoint files.
type AssembleOptions struct {
	Spec arch.Spec // the base architecture (required)
	// Pattern names the files, e.g. "run{run}/epoch{epoch}.pt" (see DefaultPatterns); "" tries those.
	Pattern string
	// StepsPerEpoch converts {epoch} numbers to training steps; 0 records epoch numbers as steps.
	StepsPerEpoch int
	Init          string // init law the runs started from (arch.InitPyTorch, ...); "" leaves it unset
	Dataset       string // dataset name for the metadata
	Map           MapOptions
}

// ZooReport summarizes an assembly.
type ZooReport struct {
	Pattern string   `json:"pattern"`
	Files   int      `json:"files"`
	Runs    []int    `json:"runs"`    // run numbers, in zoo order
	Indices []int    `json:"indices"` // epoch or step numbers of the checkpoints
	Metrics []string `json:"metrics"` // scalars found in every file, kept as metrics
	First   *Report  `json:"first"`   // the mapping report of the first file (all must map alike)
}

// AssembleZoo builds a trajectory zoo from a folder of per-run, per-checkpoint files (any format
// Read knows), ordered by run number, then by epoch or step. Every run must have the same
// checkpoints. Top-level scalars present in every file (test_acc, train_loss, ...) become metrics.
func AssembleZoo(dir string, opt AssembleOptions) (*traj.Zoo, *ZooReport, error) {
	net, err := arch.New(opt.Spec)
	if err != nil {
		return nil, nil, err
	}
	files, err := listFiles(dir)
	if err != nil {
		return nil, nil, err
	}
	patterns := DefaultPatterns
	if opt.Pattern != "" {
		patterns = []string{opt.Pattern}
	}
	var best []match
	var bestPat string
	for _, p := range patterns {
		re, unit, err := compilePattern(p)
		if err != nil {
			return nil, nil, err
		}
		var ms []match
		for _, f := range files {
			if m := re.FindStringSubmatch(f); m != nil {
				r, _ := strconv.Atoi(m[re.SubexpIndex("run")])
				k, _ := strconv.Atoi(m[re.SubexpIndex("k")])
				ms = append(ms, match{file: f, run: r, k: k, unit: unit})
			}
		}
		if len(ms) > len(best) {
			best, bestPat = ms, p
		}
	}
	if len(best) == 0 {
		return nil, nil, fmt.Errorf("interop: no checkpoint file in %s matches %s; name them like run0/epoch0.pt or pass a pattern (docs/interop.md)", dir, strings.Join(patterns, ", "))
	}
	matched := map[string]bool{}
	for _, m := range best {
		matched[m.file] = true
	}
	for _, f := range files {
		if checkpointExts[strings.ToLower(filepath.Ext(f))] && !matched[f] {
			return nil, nil, fmt.Errorf("interop: %s does not match the pattern %s used for the other %d files; rename it, move it away, or pass --pattern", filepath.Join(dir, f), bestPat, len(best))
		}
	}
	// Group by run; every run must have the same checkpoint numbers.
	byRun := map[int]map[int]string{}
	for _, m := range best {
		if byRun[m.run] == nil {
			byRun[m.run] = map[int]string{}
		}
		if other, dup := byRun[m.run][m.k]; dup {
			return nil, nil, fmt.Errorf("interop: run %d has two files for %s %d: %s and %s", m.run, m.unit, m.k, other, m.file)
		}
		byRun[m.run][m.k] = m.file
	}
	rep := &ZooReport{Pattern: bestPat, Files: len(best)}
	for r := range byRun {
		rep.Runs = append(rep.Runs, r)
	}
	sort.Ints(rep.Runs)
	for k := range byRun[rep.Runs[0]] {
		rep.Indices = append(rep.Indices, k)
	}
	sort.Ints(rep.Indices)
	for _, r := range rep.Runs {
		for _, k := range rep.Indices {
			if _, ok := byRun[r][k]; !ok {
				return nil, nil, fmt.Errorf("interop: run %d lacks %s %d (run %d has it); every run needs the same checkpoints", r, best[0].unit, k, rep.Runs[0])
			}
		}
		if len(byRun[r]) != len(rep.Indices) {
			return nil, nil, fmt.Errorf("interop: run %d has %d checkpoints, run %d has %d; every run needs the same checkpoints", r, len(byRun[r]), rep.Runs[0], len(rep.Indices))
		}
	}

	l := net.Layout()
	p, runs, k1 := l.Size(), len(rep.Runs), len(rep.Indices)
	z := &traj.Zoo{Runs: runs, Checkpoints: k1, Params: p, Weights: make([]float32, runs*k1*p), Steps: make([]int64, k1), Metrics: map[string][]float32{}}
	unit := best[0].unit
	for i, k := range rep.Indices {
		z.Steps[i] = int64(k)
		if unit == "epoch" && opt.StepsPerEpoch > 0 {
			z.Steps[i] = int64(k) * int64(opt.StepsPerEpoch)
		}
	}
	mopt := opt.Map
	if mopt.Spec == nil {
		mopt.Spec = &opt.Spec
	}
	scalars := make([]map[string]float64, 0, runs*k1)
	format := ""
	for ri, r := range rep.Runs {
		for ki, k := range rep.Indices {
			path := filepath.Join(dir, byRun[r][k])
			sd, err := Read(path)
			if err != nil {
				return nil, nil, err
			}
			flat, mrep, err := Map(sd, l, mopt)
			if err != nil {
				if rep.First != nil {
					return nil, nil, fmt.Errorf("interop: %s is not saved like %s, whose mapping every file must follow: %w", path, rep.First.Source, err)
				}
				return nil, nil, err
			}
			if len(mrep.Lead) != 0 {
				return nil, nil, fmt.Errorf("interop: %s holds stacked weights %v; a zoo folder needs one net per file", path, mrep.Lead)
			}
			if rep.First == nil {
				rep.First, format = mrep, sd.Format
				// Every other file maps as the first: the same keys, never a mapping of its own.
				mopt.Keys = map[string]string{}
				for _, m := range mrep.Matched {
					mopt.Keys[m.Key] = m.Segment
				}
			}
			copy(z.At(ri, ki), flat)
			scalars = append(scalars, sd.Scalars)
		}
	}
	// Metrics: top-level scalars every file has (nested ones are optimizer settings and the like),
	// except the checkpoint's own position.
	for name := range scalars[0] {
		switch strings.ToLower(name) {
		case "epoch", "step", "steps", "iter", "iteration", "global_step":
			continue
		}
		if strings.Contains(name, ".") {
			continue
		}
		m := make([]float32, len(scalars))
		all := true
		for i, s := range scalars {
			v, ok := s[name]
			if !ok {
				all = false
				break
			}
			m[i] = float32(v)
		}
		if all && name != traj.TensorWeights && name != traj.TensorSteps {
			z.Metrics[name] = m
			rep.Metrics = append(rep.Metrics, name)
		}
	}
	sort.Strings(rep.Metrics)
	z.Meta = traj.Meta{
		Kind: traj.KindZoo, Arch: opt.Spec, Layout: l, Init: opt.Init,
		Dataset: traj.DatasetMeta{Name: opt.Dataset, Source: "imported from " + dir},
		Extra: map[string]string{
			"imported_from":  dir,
			"import_pattern": bestPat,
			"import_format":  format,
			"steps_unit":     stepsUnit(unit, opt.StepsPerEpoch),
		},
	}
	recordKeys(z.Meta.Extra, rep.First)
	return z, rep, nil
}

// Metadata keys (traj.Meta.Extra) of an imported zoo that record how its file keys map.
const (
	// ExtraSourceKeys: a JSON list of the source state_dict keys, one per layout segment in
	// order (Match.Source), from which `nmflow export --keys source` writes files that the
	// user's own module loads.
	ExtraSourceKeys = "source_keys"
	ExtraKeyPrefix  = "key_prefix"    // Report.Prefix
	ExtraKeyNaming  = "key_naming"    // Report.Naming
	ExtraContainer  = "key_container" // Report.Container
)

func recordKeys(extra map[string]string, rep *Report) {
	keys := make([]string, len(rep.Matched))
	for i, m := range rep.Matched {
		keys[i] = m.Source
	}
	b, _ := json.Marshal(keys)
	extra[ExtraSourceKeys] = string(b)
	extra[ExtraKeyPrefix], extra[ExtraKeyNaming], extra[ExtraContainer] = rep.Prefix, rep.Naming, rep.Container
}

// SourceKeys returns the source state_dict keys an imported zoo recorded (ExtraSourceKeys), one
// per segment of its layout; nil when it recorded none (a zoo nmflow trained, generated weights).
func SourceKeys(meta traj.Meta) ([]string, error) {
	raw, ok := meta.Extra[ExtraSourceKeys]
	if !ok {
		return nil, nil
	}
	var keys []string
	if err := json.Unmarshal([]byte(raw), &keys); err != nil {
		return nil, fmt.Errorf("interop: metadata %s is not a JSON list of strings: %v", ExtraSourceKeys, err)
	}
	if len(keys) != len(meta.Layout.Segments) {
		return nil, fmt.Errorf("interop: metadata %s has %d keys for a layout of %d tensors", ExtraSourceKeys, len(keys), len(meta.Layout.Segments))
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if k == "" || seen[k] {
			return nil, fmt.Errorf("interop: metadata %s holds an empty or repeated key %q", ExtraSourceKeys, k)
		}
		seen[k] = true
	}
	return keys, nil
}

// SourceRename names each layout segment by its source key (from SourceKeys), for FromFlat.
func SourceRename(l arch.Layout, keys []string) (func(string) string, error) {
	if len(keys) != len(l.Segments) {
		return nil, fmt.Errorf("interop: %d source keys for a layout of %d tensors", len(keys), len(l.Segments))
	}
	m := make(map[string]string, len(keys))
	for i, s := range l.Segments {
		m[s.Name] = keys[i]
	}
	return func(n string) string { return m[n] }, nil
}

func stepsUnit(unit string, perEpoch int) string {
	if unit == "epoch" && perEpoch > 0 {
		return fmt.Sprintf("training steps (epoch × %d)", perEpoch)
	}
	return unit
}

type match struct {
	file   string
	run, k int
	unit   string // "epoch" or "step"
}

// compilePattern turns "run{run}/epoch{epoch}.*" into an anchored regexp over slash paths.
func compilePattern(p string) (*regexp.Regexp, string, error) {
	var b strings.Builder
	b.WriteString("^")
	unit := ""
	runs := 0
	for rest := p; rest != ""; {
		i := strings.IndexAny(rest, "{*")
		if i < 0 {
			b.WriteString(regexp.QuoteMeta(rest))
			break
		}
		b.WriteString(regexp.QuoteMeta(rest[:i]))
		rest = rest[i:]
		if rest[0] == '*' {
			b.WriteString(`[^/]*`)
			rest = rest[1:]
			continue
		}
		end := strings.IndexByte(rest, '}')
		if end < 0 {
			return nil, "", fmt.Errorf("interop: pattern %q has an unclosed {", p)
		}
		switch name := rest[1:end]; name {
		case "run":
			runs++
			b.WriteString(`(?P<run>\d+)`)
		case "epoch", "step":
			if unit != "" {
				return nil, "", fmt.Errorf("interop: pattern %q has more than one {epoch}/{step}", p)
			}
			unit = name
			b.WriteString(`(?P<k>\d+)`)
		default:
			return nil, "", fmt.Errorf("interop: pattern %q has unknown field {%s} (want {run}, {epoch} or {step})", p, name)
		}
		rest = rest[end+1:]
	}
	if runs != 1 || unit == "" {
		return nil, "", fmt.Errorf("interop: pattern %q needs exactly one {run} and one {epoch} or {step}, e.g. run{run}/epoch{epoch}.pt", p)
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, "", fmt.Errorf("interop: pattern %q: %w", p, err)
	}
	return re, unit, nil
}

// listFiles returns the regular files under dir as slash paths relative to it, skipping hidden
// ones (temporary files of interrupted writes start with a dot).
func listFiles(dir string) ([]string, error) {
	if !isDir(dir) {
		return nil, fmt.Errorf("interop: %s is not a folder", dir)
	}
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(dir, path)
			if err != nil {
				return err
			}
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("interop: listing %s: %w", dir, err)
	}
	sort.Strings(out)
	return out, nil
}

// ImportFile builds a zoo from one file: a single state dict (1 run, 1 checkpoint), or weights
// stacked with leading [R] or [R, K+1] axes (as Export writes them). Checkpoint steps are then
// 0..K (their index).
func ImportFile(path string, opt AssembleOptions) (*traj.Zoo, *Report, error) {
	net, err := arch.New(opt.Spec)
	if err != nil {
		return nil, nil, err
	}
	sd, err := Read(path)
	if err != nil {
		return nil, nil, err
	}
	mopt := opt.Map
	if mopt.Spec == nil {
		mopt.Spec = &opt.Spec
	}
	l := net.Layout()
	flat, rep, err := Map(sd, l, mopt)
	if err != nil {
		return nil, rep, err
	}
	runs, k1 := 1, 1
	switch len(rep.Lead) {
	case 1:
		runs = rep.Lead[0]
	case 2:
		runs, k1 = rep.Lead[0], rep.Lead[1]
	}
	if runs*k1 == 0 {
		return nil, rep, fmt.Errorf("interop: %s holds no nets (stacked as %v)", path, rep.Lead)
	}
	z := &traj.Zoo{Runs: runs, Checkpoints: k1, Params: l.Size(), Weights: flat, Steps: make([]int64, k1), Metrics: map[string][]float32{}}
	for k := range z.Steps {
		z.Steps[k] = int64(k)
	}
	z.Meta = traj.Meta{Kind: traj.KindZoo, Arch: opt.Spec, Layout: l, Init: opt.Init,
		Dataset: traj.DatasetMeta{Name: opt.Dataset, Source: "imported from " + path},
		Extra:   map[string]string{"imported_from": path, "import_format": sd.Format, "steps_unit": "checkpoint index"}}
	recordKeys(z.Meta.Extra, rep)
	return z, rep, nil
}

// SampleFile returns the first checkpoint file under dir (sorted by path), or dir itself when it
// is a GoMLX checkpoint folder, e.g. to read an architecture off it with InferSpec before Import.
func SampleFile(dir string) (string, error) {
	if IsGoMLXCheckpoint(dir) {
		return dir, nil
	}
	files, err := listFiles(dir)
	if err != nil {
		return "", err
	}
	for _, f := range files {
		if checkpointExts[strings.ToLower(filepath.Ext(f))] {
			return filepath.Join(dir, f), nil
		}
	}
	return "", fmt.Errorf("interop: %s holds no checkpoint files (%s)", dir, strings.Join(sortedKeys(checkpointExts), ", "))
}

// Import builds a zoo from path: a folder of per-run checkpoint files (AssembleZoo), a GoMLX
// checkpoint folder or one file (ImportFile: one net, or nets stacked [R] or [R, K+1]). Every
// form goes through Map, so the same mapping rules, report and recorded source keys apply.
func Import(path string, opt AssembleOptions) (*traj.Zoo, *ZooReport, error) {
	if isDir(path) && !IsGoMLXCheckpoint(path) {
		return AssembleZoo(path, opt)
	}
	z, rep, err := ImportFile(path, opt)
	if err != nil {
		return nil, nil, err
	}
	return z, &ZooReport{Files: 1, Runs: []int{0}, First: rep}, nil
}
