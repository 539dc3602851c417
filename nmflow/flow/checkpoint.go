package flow

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/checkpoint"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// GoMLX checkpoints of a fit in Dir/ckpt: saving with model.json, resuming a fit in progress,
// and loading the newest checkpoint that reads, moving torn ones aside.

// saveTraining writes model.json (atomically) with the steps done, then the GoMLX checkpoint.
// GoMLX writes a checkpoint in place, so a kill during ckpt.Save leaves the previous checkpoint
// as the newest loadable one and model.json ahead of it: resume cuts the history back to the
// checkpoint's step, and Load refuses the folder until the fit is run again.
func (m *Model) saveTraining(dir string, ckpt *checkpoint.Handler) error {
	if err := m.writeJSON(dir); err != nil {
		return err
	}
	if err := ckpt.Save(); err != nil {
		return fmt.Errorf("flow: saving checkpoint in %s: %w", dir, err)
	}
	return nil
}

// resume loads dir's checkpoint and history into m if dir holds a fit in progress. It returns the
// store the checkpoint was loaded into, made by newStore (a fresh one when dir holds no fit).
func (m *Model) resume(dir string, newStore func() (*model.Store, error)) (*model.Store, error) {
	js := filepath.Join(dir, modelFile)
	if !exists(js) {
		ck := filepath.Join(dir, "ckpt")
		if exists(ck) && !noFiles(ck) {
			return nil, fmt.Errorf("flow: %s has a ckpt/ folder but no %s; remove the folder or choose another", dir, modelFile)
		}
		// No model.json and no checkpoint file: a fit killed before its first save (the
		// handler makes ckpt/ at the start). Nothing is lost by starting it over.
		return newStore()
	}
	var old Model
	if err := readJSON(js, &old); err != nil {
		return nil, err
	}
	a, _ := json.Marshal(old.Config)
	b, _ := json.Marshal(m.Config)
	if string(a) != string(b) {
		return nil, fmt.Errorf("flow: %s holds a model fitted with a different configuration:\n  there: %s\n  now:   %s\nuse the same settings to resume, or another --out folder", dir, a, b)
	}
	if old.Base.ZooSeed != m.Base.ZooSeed || old.Base.Layout.Size() != m.Base.Layout.Size() || old.Base.Runs != m.Base.Runs {
		return nil, fmt.Errorf("flow: %s was fitted on another zoo (seed %d, %d runs, P=%d); use another --out folder", dir, old.Base.ZooSeed, old.Base.Runs, old.Base.Layout.Size())
	}
	store, _, err := loadCheckpoint(dir, newStore)
	if err != nil {
		return nil, fmt.Errorf("%w; run the same fit again to start it over from step 0", err)
	}
	// The checkpoint is authoritative: model.json is written just before it, so it may be ahead.
	done := int(optimizer.GetGlobalStep(store))
	if done > len(old.History) {
		return nil, fmt.Errorf("flow: %s: checkpoint at step %d but history has %d steps; remove the folder to start over", dir, done, len(old.History))
	}
	m.Steps, m.History, m.GradNorm, m.WallSeconds, m.Created = done, old.History[:done], old.GradNorm[:min(done, len(old.GradNorm))], old.WallSeconds, old.Created
	m.LRCuts = old.LRCuts // all of them: each applies from its own step on (lrScaleAt)
	return store, nil
}

// corruptDir is the folder of dir/ckpt that receives checkpoints that fail to load.
const corruptDir = "corrupt"

// loadCheckpoint loads the newest loadable checkpoint of dir/ckpt (LoadCheckpoint).
func loadCheckpoint(dir string, newStore func() (*model.Store, error)) (store *model.Store, loaded bool, err error) {
	return LoadCheckpoint(filepath.Join(dir, "ckpt"), newStore)
}

// LoadCheckpoint loads the newest GoMLX checkpoint of the folder ck into a store made by
// newStore. GoMLX writes a checkpoint's files in place (no rename), so a kill during a save
// leaves a newest checkpoint that cannot be read: its files are moved aside into ck/corrupt/ and
// the previous one (keep two) is tried, each time with a fresh store. With no checkpoint in ck it
// returns a fresh store and loaded false; when every checkpoint failed, an error that names what
// was moved aside. Fit and adjoint.FineTune resume through it.
func LoadCheckpoint(ck string, newStore func() (*model.Store, error)) (store *model.Store, loaded bool, err error) {
	var moved []string
	for {
		names, err := listCheckpoints(ck)
		if err != nil {
			return nil, false, err
		}
		if len(names) == 0 && len(moved) > 0 {
			return nil, false, fmt.Errorf("flow: no loadable checkpoint left in %s; moved aside into %s:\n  %s",
				ck, filepath.Join(ck, corruptDir), strings.Join(moved, "\n  "))
		}
		if store, err = newStore(); err != nil {
			return nil, false, err
		}
		if len(names) == 0 {
			return store, false, nil
		}
		_, lerr := checkpoint.Build(store).Dir(ck).Immediate().Done()
		if lerr == nil {
			return store, true, nil
		}
		newest := names[len(names)-1]
		if err := moveAside(ck, newest); err != nil {
			return nil, false, fmt.Errorf("flow: checkpoint %s in %s does not load (%v), and moving it aside failed: %w", newest, ck, lerr, err)
		}
		moved = append(moved, fmt.Sprintf("%s (%v)", newest, lerr))
	}
}

// listCheckpoints returns the base names of the checkpoints in ck, oldest first, as GoMLX's
// checkpoint.Handler.ListCheckpoints does: the JSON files named checkpoint-*.
func listCheckpoints(ck string) ([]string, error) {
	entries, err := os.ReadDir(ck)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("flow: %w", err)
	}
	var names []string
	for _, e := range entries {
		if base, ok := strings.CutSuffix(e.Name(), checkpoint.JsonNameSuffix); ok && !e.IsDir() && strings.HasPrefix(base, "checkpoint-") {
			names = append(names, base)
		}
	}
	sort.Strings(names)
	return names, nil
}

// moveAside moves checkpoint base's files from ck into ck/corrupt/.
func moveAside(ck, base string) error {
	to := filepath.Join(ck, corruptDir)
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	// The JSON first: without it the checkpoint is no longer listed, whatever happens next.
	for _, suffix := range []string{checkpoint.JsonNameSuffix, checkpoint.BinDataSuffix} {
		if err := os.Rename(filepath.Join(ck, base+suffix), filepath.Join(to, base+suffix)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

// VelocityParams counts the parameters of the velocity network in the newest checkpoint of a
// fit's folder dir (dir/ckpt).
func VelocityParams(dir string) (int, error) {
	h, err := checkpoint.Load(model.NewStore()).Dir(filepath.Join(dir, "ckpt")).Done()
	if err != nil {
		return 0, err
	}
	n := 0
	for key, v := range h.LoadedVariables() {
		if strings.HasPrefix(key, "var:"+VelocityScope+"/") {
			n += v.Shape().Size()
		}
	}
	return n, nil
}

// noFiles reports whether the folder tree at dir holds no regular file (folders only, or none).
func noFiles(dir string) bool {
	found := false
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			found = true
			return filepath.SkipAll
		}
		return nil
	})
	return !found
}
