package zoo

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/traj"
)

func TestParseShard(t *testing.T) {
	sh, err := ParseShard("2/3")
	if err != nil || sh != (Shard{2, 3}) {
		t.Fatalf("ParseShard(2/3) = %v, %v", sh, err)
	}
	for _, bad := range []string{"", "3/3", "-1/2", "1", "a/b", "0/0"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) accepted", bad)
		}
	}
	// The blocks tile [0,R) without gaps or overlaps.
	next := 0
	for i := range 3 {
		lo, hi := Shard{i, 3}.Runs(7)
		if lo != next || hi <= lo {
			t.Fatalf("shard %d/3 of 7 runs = [%d,%d), want to start at %d", i, lo, hi, next)
		}
		next = hi
	}
	if next != 7 {
		t.Fatalf("shards of 7 runs end at %d", next)
	}
}

// shardZoo trains the shards of cfg for an n-way split.
func shardZoo(t *testing.T, cfg Config, n int) []*traj.Zoo {
	t.Helper()
	var out []*traj.Zoo
	for i := range n {
		z, err := TrainShard(context.Background(), cfg, Shard{i, n}, synthetic(), quiet())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, z)
	}
	return out
}

// Merged shards hold bit for bit the single-machine zoo: weights, metrics, seeds and config.
func TestMergedShardsMatchSingleRun(t *testing.T) {
	cfg := smallConfig()
	cfg.Runs, cfg.Epochs, cfg.Checkpoints, cfg.Momentum = 5, 2, 2, 0.9
	full, err := Train(context.Background(), cfg, synthetic(), quiet())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{2, 3} {
		shards := shardZoo(t, cfg, n)
		// Reverse the order: Merge sorts by shard index.
		for i, j := 0, len(shards)-1; i < j; i, j = i+1, j-1 {
			shards[i], shards[j] = shards[j], shards[i]
		}
		m, err := Merge(shards)
		if err != nil {
			t.Fatal(err)
		}
		if m.Runs != full.Runs || len(m.Weights) != len(full.Weights) {
			t.Fatalf("%d shards: merged R=%d, want %d", n, m.Runs, full.Runs)
		}
		for i := range full.Weights {
			if m.Weights[i] != full.Weights[i] {
				p := full.Params * full.Checkpoints
				t.Fatalf("%d shards: weight %d (run %d) differs: %g vs %g", n, i, i/p, m.Weights[i], full.Weights[i])
			}
		}
		for name, v := range full.Metrics {
			for i := range v {
				if m.Metrics[name][i] != v[i] {
					t.Fatalf("%d shards: metric %s[%d] differs: %g vs %g", n, name, i, m.Metrics[name][i], v[i])
				}
			}
		}
		if m.Meta.Extra["zoo_config"] != full.Meta.Extra["zoo_config"] || len(m.Meta.RunSeeds) != 5 || m.Meta.RunSeeds[4] != full.Meta.RunSeeds[4] {
			t.Fatalf("%d shards: metadata differs:\n%s\n%s", n, m.Meta.Extra["zoo_config"], full.Meta.Extra["zoo_config"])
		}
		if m.Meta.Extra["shards"] == "" || m.Meta.Extra[extraShard] != "" {
			t.Fatalf("%d shards: merged extra %v", n, m.Meta.Extra)
		}
		// The merged zoo round-trips through the trajectory file.
		path := filepath.Join(t.TempDir(), "merged.safetensors")
		if err := traj.WriteZoo(path, m); err != nil {
			t.Fatal(err)
		}
		if back, err := traj.ReadZoo(path); err != nil || back.Weights[len(back.Weights)-1] != full.Weights[len(full.Weights)-1] {
			t.Fatalf("merged zoo does not round-trip: %v", err)
		}
	}
}

func TestMergeRejectsBadSets(t *testing.T) {
	cfg := smallConfig()
	cfg.Epochs, cfg.Checkpoints = 1, 1
	shards := shardZoo(t, cfg, 3)
	other := cfg
	other.LR = 0.2
	foreign, err := TrainShard(context.Background(), other, Shard{2, 3}, synthetic(), quiet())
	if err != nil {
		t.Fatal(err)
	}
	plain, err := Train(context.Background(), cfg, synthetic(), quiet())
	if err != nil {
		t.Fatal(err)
	}
	for name, set := range map[string][]*traj.Zoo{
		"missing":   shards[:2],
		"duplicate": {shards[0], shards[1], shards[1]},
		"foreign":   {shards[0], shards[1], foreign},
		"not shard": {plain},
		"empty":     nil,
	} {
		if _, err := Merge(set); err == nil {
			t.Errorf("%s: merge accepted", name)
		}
	}
	if _, err := TrainShard(context.Background(), cfg, Shard{0, 4}, synthetic(), quiet()); err == nil || !strings.Contains(err.Error(), "owns no runs") {
		t.Fatalf("empty shard: %v", err)
	}
}

// A shard resumes from its own state file and refuses another shard's.
func TestShardResume(t *testing.T) {
	cfg := smallConfig()
	cfg.Runs = 4
	state := filepath.Join(t.TempDir(), "shard.state")
	o := quiet()
	o.State, o.StopAfter = state, 1
	if _, err := TrainShard(context.Background(), cfg, Shard{0, 2}, synthetic(), o); !errors.Is(err, ErrStopped) {
		t.Fatalf("want ErrStopped, got %v", err)
	}
	o.StopAfter = 0
	if _, err := TrainShard(context.Background(), cfg, Shard{1, 2}, synthetic(), o); err == nil || !strings.Contains(err.Error(), "another shard") {
		t.Fatalf("another shard's state accepted: %v", err)
	}
	resumed, err := TrainShard(context.Background(), cfg, Shard{0, 2}, synthetic(), o)
	if err != nil {
		t.Fatal(err)
	}
	fresh := shardZoo(t, cfg, 2)[0]
	for i := range fresh.Weights {
		if fresh.Weights[i] != resumed.Weights[i] {
			t.Fatalf("resumed shard differs at weight %d", i)
		}
	}
}
