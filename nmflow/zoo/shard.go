package zoo

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// Shard is part i of N of a zoo: it owns the contiguous block of runs [Lo, Hi) of the R runs
// (Lo = i·R/N). Each run keeps the seed it has in the whole zoo (arch.RunSeeds(seed, R)[run]), and
// its init and minibatch order derive from that seed alone, so the shards of a zoo, trained on
// separate machines and merged with Merge, hold the same runs as the single-machine zoo. Whether
// they hold the same bits depends on the backend's kernels being independent of R (see Merge).
type Shard struct {
	Index, Count int
}

// ParseShard reads "i/N" (0 ≤ i < N).
func ParseShard(s string) (Shard, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("zoo: shard %q is not i/N with 0 ≤ i < N (e.g. 0/4)", s)
	}
	return Shard{Index: i, Count: n}, nil
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Runs returns the block [lo, hi) of the total runs that the shard owns.
func (s Shard) Runs(total int) (lo, hi int) {
	return s.Index * total / s.Count, (s.Index + 1) * total / s.Count
}

// Metadata keys a shard adds to Meta.Extra; Merge reads and removes them.
const (
	extraShard     = "shard"      // "i/N"
	extraShardRuns = "shard_runs" // "lo-hi" of the whole zoo's runs
	extraZooRuns   = "zoo_runs"   // R of the whole zoo
)

// TrainShard trains the runs of cfg (cfg.Runs is the whole zoo's R) that shard sh owns and returns
// them as a zoo of hi−lo runs, marked with the shard in Meta.Extra. opt.State resumes as in Train;
// a state file of another shard is refused.
func TrainShard(ctx context.Context, cfg Config, sh Shard, ds *data.Dataset, opt Options) (*traj.Zoo, error) {
	if sh.Count < 1 || sh.Index < 0 || sh.Index >= sh.Count {
		return nil, fmt.Errorf("zoo: bad shard %d/%d", sh.Index, sh.Count)
	}
	if lo, hi := sh.Runs(cfg.Runs); cfg.Runs > 0 && hi <= lo {
		return nil, fmt.Errorf("zoo: shard %s of %d runs owns no runs; use at most %d shards", sh, cfg.Runs, cfg.Runs)
	}
	t, err := prepare(cfg, ds, opt, &sh)
	if err != nil {
		return nil, err
	}
	// A resumed state must hold this shard's inits (shards of equal size share a config).
	if t.resumedFrom > 0 {
		init, err := arch.InitBatch(t.net.Layout(), t.cfg.Init, t.runSeeds)
		if err != nil {
			return nil, err
		}
		for i, v := range t.saved[0] {
			if v != init[i] {
				return nil, fmt.Errorf("zoo: resume state %s belongs to another shard than %s; pass another --state or delete it", opt.State, sh)
			}
		}
	}
	z, err := t.run(ctx, opt)
	if z != nil {
		lo, hi := sh.Runs(cfg.Runs)
		z.Meta.Extra[extraShard] = sh.String()
		z.Meta.Extra[extraShardRuns] = fmt.Sprintf("%d-%d", lo, hi)
		z.Meta.Extra[extraZooRuns] = strconv.Itoa(cfg.Runs)
	}
	return z, err
}

// newTrainer builds a trainer for the shard's runs only, with their whole-zoo seeds and inits.
func (s *Shard) newTrainer(be compute.Backend, net arch.Net, cfg Config, ds *data.Dataset) (*trainer, error) {
	lo, hi := s.Runs(cfg.Runs)
	seeds := arch.RunSeeds(cfg.Seed, cfg.Runs)[lo:hi]
	sub := cfg
	sub.Runs = hi - lo
	t, err := newTrainer(be, net, sub, ds)
	if err != nil {
		return nil, err
	}
	init, err := arch.InitBatch(net.Layout(), cfg.Init, seeds)
	if err != nil {
		return nil, err
	}
	t.runSeeds = seeds
	t.params = tensors.FromFlatDataAndDimensions(init, sub.Runs, net.Layout().Size())
	return t, nil
}

// Merge combines the shards of one zoo (any order, each exactly once) into the zoo of all R runs:
// weights, metrics and run seeds are concatenated in run order, and the metadata is the
// single-machine zoo's (zoo_config with the whole R). The weights and metrics are bit-identical to
// a single-machine run only where the backend computes each run's step independently of how many
// runs share it; Extra "wall_seconds" is the sum over the shards and Extra "shards" says how many
// were merged.
func Merge(shards []*traj.Zoo) (*traj.Zoo, error) {
	if len(shards) == 0 {
		return nil, fmt.Errorf("zoo: merge needs at least one shard")
	}
	type part struct {
		z      *traj.Zoo
		sh     Shard
		lo, hi int
	}
	parts := make([]part, len(shards))
	total := -1
	for i, z := range shards {
		sh, err := ParseShard(z.Meta.Extra[extraShard])
		if err != nil {
			return nil, fmt.Errorf("zoo: merge input %d is not a shard (no valid %q in its metadata)", i, extraShard)
		}
		r, err := strconv.Atoi(z.Meta.Extra[extraZooRuns])
		if err != nil || r < 1 {
			return nil, fmt.Errorf("zoo: shard %s lacks the zoo's run count", sh)
		}
		if total >= 0 && r != total {
			return nil, fmt.Errorf("zoo: shards come from zoos of %d and %d runs", total, r)
		}
		total = r
		lo, hi := sh.Runs(r)
		if z.Runs != hi-lo || fmt.Sprintf("%d-%d", lo, hi) != z.Meta.Extra[extraShardRuns] {
			return nil, fmt.Errorf("zoo: shard %s holds %d runs, want runs %d-%d of %d", sh, z.Runs, lo, hi, r)
		}
		parts[i] = part{z, sh, lo, hi}
	}
	sort.Slice(parts, func(a, b int) bool { return parts[a].sh.Index < parts[b].sh.Index })
	n := parts[0].sh.Count
	if len(parts) != n {
		return nil, fmt.Errorf("zoo: got %d shards of a %d-way split", len(parts), n)
	}
	ref := parts[0].z
	refCfg, err := shardConfig(ref)
	if err != nil {
		return nil, err
	}
	for i, p := range parts {
		if p.sh.Count != n || p.sh.Index != i {
			return nil, fmt.Errorf("zoo: shards are not 0..%d of one %d-way split (got %s)", n-1, n, p.sh)
		}
		c, err := shardConfig(p.z)
		if err != nil {
			return nil, err
		}
		if c != refCfg || p.z.Params != ref.Params || p.z.Checkpoints != ref.Checkpoints || fmt.Sprint(p.z.Steps) != fmt.Sprint(ref.Steps) {
			return nil, fmt.Errorf("zoo: shard %s was trained with another configuration than shard %s:\n  %s\n  %s", p.sh, parts[0].sh, c, refCfg)
		}
	}
	out := &traj.Zoo{Runs: total, Checkpoints: ref.Checkpoints, Params: ref.Params, Steps: append([]int64(nil), ref.Steps...),
		Metrics: map[string][]float32{}}
	out.Meta = ref.Meta
	out.Meta.RunSeeds = nil
	out.Meta.Extra = map[string]string{}
	for k, v := range ref.Meta.Extra {
		out.Meta.Extra[k] = v
	}
	var wall float64
	for _, p := range parts {
		out.Weights = append(out.Weights, p.z.Weights...)
		out.Meta.RunSeeds = append(out.Meta.RunSeeds, p.z.Meta.RunSeeds...)
		for name, m := range p.z.Metrics {
			out.Metrics[name] = append(out.Metrics[name], m...)
		}
		w, _ := strconv.ParseFloat(p.z.Meta.Extra["wall_seconds"], 64)
		wall += w
		if len(p.z.Metrics) != len(ref.Metrics) {
			return nil, fmt.Errorf("zoo: shard %s has other metrics than shard 0", p.sh)
		}
	}
	if want := arch.RunSeeds(ref.Meta.Seed, total); fmt.Sprint(want) != fmt.Sprint(out.Meta.RunSeeds) {
		return nil, fmt.Errorf("zoo: the shards' run seeds are not those of seed %d", ref.Meta.Seed)
	}
	var cfg Config
	_ = json.Unmarshal([]byte(ref.Meta.Extra["zoo_config"]), &cfg) // checked by shardConfig
	cfg.Runs = total
	full, _ := json.Marshal(cfg)
	out.Meta.Extra["zoo_config"] = string(full)
	delete(out.Meta.Extra, extraShard)
	delete(out.Meta.Extra, extraShardRuns)
	delete(out.Meta.Extra, extraZooRuns)
	out.Meta.Extra["wall_seconds"] = fmt.Sprintf("%.1f", wall)
	out.Meta.Extra["shards"] = strconv.Itoa(n)
	return out, out.Check()
}

// shardConfig is a shard's zoo_config with the run count removed: what all shards must share.
func shardConfig(z *traj.Zoo) (string, error) {
	var c Config
	if err := json.Unmarshal([]byte(z.Meta.Extra["zoo_config"]), &c); err != nil {
		return "", fmt.Errorf("zoo: shard %s has a bad zoo_config: %w", z.Meta.Extra[extraShard], err)
	}
	c.Runs = 0
	b, _ := json.Marshal(c)
	return string(b), nil
}
