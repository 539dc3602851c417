package zoo

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/nmflow/nmflow/nmflow/traj"
)

// The resume state is a safetensors file (same codec as trajectories) holding the live parameters
// and optimizer buffers, every checkpoint taken so far with its metrics, and the config as JSON.
// It is written atomically after each checkpoint, so an interruption loses at most one interval.

const stateFormat = "nmflow.zoo-state"

// stateOrder is the tensors' order in the file, which the checksum follows.
var stateOrder = []string{"params", "opt1", "opt2", "saved", "train_loss", "test_loss", "test_acc"}

func (t *trainer) saveState(path string, elapsed time.Duration) error {
	r, p, k1 := t.cfg.Runs, t.net.Layout().Size(), len(t.saved)
	flat := func(rows [][]float32) []float32 {
		var out []float32
		for _, v := range rows {
			out = append(out, v...)
		}
		return out
	}
	cfgJSON, err := json.Marshal(t.cfg)
	if err != nil {
		return err
	}
	ts := map[string]traj.Tensor{
		"params":     traj.F32Tensor([]int{r, p}, tensors.MustCopyFlatData[float32](t.params)),
		"opt1":       traj.F32Tensor([]int{r, p}, tensors.MustCopyFlatData[float32](t.s1)),
		"opt2":       traj.F32Tensor([]int{r, p}, tensors.MustCopyFlatData[float32](t.s2)),
		"saved":      traj.F32Tensor([]int{k1, r, p}, flat(t.saved)),
		"train_loss": traj.F32Tensor([]int{k1, r}, flat(t.trainLoss)),
		"test_loss":  traj.F32Tensor([]int{k1, r}, flat(t.testLoss)),
		"test_acc":   traj.F32Tensor([]int{k1, r}, flat(t.testAcc)),
	}
	order := stateOrder
	meta := map[string]string{
		"format":  stateFormat,
		"config":  string(cfgJSON),
		"done":    strconv.FormatInt(t.done, 10),
		"elapsed": strconv.FormatFloat((t.elapsed + elapsed).Seconds(), 'f', 3, 64),
		// Learning-rate cuts after divergences (Options.LRCut) continue after a resume.
		"lr_scale": strconv.FormatFloat(t.lrScale, 'g', -1, 64),
		"lr_cuts":  strings.Join(t.cuts, "\n"),
		// A flipped bit in the state would resume silently into a different zoo.
		"sha256": traj.Checksum(ts),
	}
	if err := traj.WriteSafetensors(path, ts, order, meta); err != nil {
		return fmt.Errorf("zoo: saving resume state: %w", err)
	}
	return nil
}

// resume loads path if it exists; a missing file means a fresh start.
func (t *trainer) resume(path string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	ts, meta, err := traj.ReadSafetensors(path)
	if err != nil {
		return fmt.Errorf("zoo: resume state %s is unreadable (%w); delete it to start over", path, err)
	}
	if meta["format"] != stateFormat {
		return fmt.Errorf("zoo: %s is not a zoo resume state (format %q); pass another --state path", path, meta["format"])
	}
	if sum, ok := meta["sha256"]; ok && sum != traj.Checksum(ts) { // absent in states written before checksums
		return fmt.Errorf("zoo: resume state %s is corrupt (its data does not match the checksum it was saved with); delete it to start over, or restore it from a copy", path)
	}
	want, _ := json.Marshal(t.cfg)
	if meta["config"] != string(want) {
		return fmt.Errorf("zoo: resume state %s was made with a different configuration:\n  state: %s\n  now:   %s\nuse the same flags, or delete the state file to start over", path, meta["config"], want)
	}
	done, err := strconv.ParseInt(meta["done"], 10, 64)
	if err != nil {
		return fmt.Errorf("zoo: resume state %s has a bad step count %q", path, meta["done"])
	}
	r, p := t.cfg.Runs, t.net.Layout().Size()
	get := func(name string, n int) ([]float32, error) {
		tt, ok := ts[name]
		if !ok {
			return nil, fmt.Errorf("zoo: resume state %s lacks tensor %q; delete it to start over", path, name)
		}
		v, err := tt.Float32s()
		if err != nil || len(v)%n != 0 {
			return nil, fmt.Errorf("zoo: resume state %s: tensor %q is malformed; delete it to start over", path, name)
		}
		return v, nil
	}
	var vals [7][]float32
	for i, name := range stateOrder {
		n := r * p
		if i >= 4 {
			n = r
		}
		if vals[i], err = get(name, n); err != nil {
			return err
		}
	}
	k1 := len(vals[3]) / (r * p)
	if k1 < 1 || k1 > len(t.steps) || t.steps[k1-1] != done || len(vals[0]) != r*p || len(vals[4]) != k1*r {
		return fmt.Errorf("zoo: resume state %s is inconsistent (%d checkpoints at step %d); delete it to start over", path, k1, done)
	}
	split := func(v []float32, n int) [][]float32 {
		out := make([][]float32, 0, len(v)/n)
		for i := 0; i < len(v); i += n {
			out = append(out, v[i:i+n])
		}
		return out
	}
	t.params = tensors.FromFlatDataAndDimensions(vals[0], r, p)
	t.s1 = tensors.FromFlatDataAndDimensions(vals[1], r, p)
	t.s2 = tensors.FromFlatDataAndDimensions(vals[2], r, p)
	t.saved = split(vals[3], r*p)
	t.trainLoss, t.testLoss, t.testAcc = split(vals[4], r), split(vals[5], r), split(vals[6], r)
	t.done, t.resumedFrom = done, done
	if secs, err := strconv.ParseFloat(meta["elapsed"], 64); err == nil {
		t.elapsed = time.Duration(secs * float64(time.Second))
	}
	if s, ok := meta["lr_scale"]; ok { // absent in states written before cuts existed
		scale, err := strconv.ParseFloat(s, 64)
		if err != nil || !(scale > 0) || scale > 1 {
			return fmt.Errorf("zoo: resume state %s has a bad lr_scale %q; delete it to start over", path, s)
		}
		t.lrScale = scale
		if c := meta["lr_cuts"]; c != "" {
			t.cuts = strings.Split(c, "\n")
		}
	}
	t.keepGood()
	return nil
}
