package flow

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"

	"github.com/gomlx/gomlx/ml/model/checkpoint"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/nmflow/nmflow/nmflow/optim"
)

// Divergence: a NaN or Inf loss or gradient norm stops the fit with a *DivergedError, or, with
// Options.LRCut, goes back to the last checkpoint with the learning rate cut.

// DivergedError reports a NaN or Inf loss or gradient norm. The last checkpoint in
// Options.Dir (if any) is from before it and is kept: see Options.LRCut.
type DivergedError struct {
	Step int // the step (0-based) whose loss or gradient norm was not finite
	optim.Divergence
}

func (e *DivergedError) Error() string { return e.Message(fitTrainer, e.Step) }

var fitTrainer = optim.Trainer{Pkg: "flow", Unit: "step", Run: "fit", Knobs: "the learning rate or the gradient clip"}

// nonFinite returns the divergence of step s if v (what) is NaN or ±Inf, else nil.
func nonFinite(s int, lr float64, what string, v float32) *DivergedError {
	if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
		return &DivergedError{Step: s, Divergence: optim.Divergence{What: what, Value: float64(v), LR: lr}}
	}
	return nil
}

// diverged handles the divergence d. With Options.Dir and LRCut it goes back to the checkpoint on
// disk (the start if there is none) with the learning rate cut, and returns the checkpoint handler
// of the reloaded store; otherwise it returns d, completed.
func (t *trainer) diverged(d *DivergedError, opt Options) (*checkpoint.Handler, error) {
	d.LastGood, d.Dir = t.saved, opt.Dir
	if opt.Dir == "" {
		return nil, d
	}
	if opt.LRCut == 0 {
		if !exists(filepath.Join(opt.Dir, modelFile)) {
			// Nothing saved yet: a model.json at step 0 lets the same fit rerun (with an LRCut)
			// in this folder, whose ckpt/ now exists.
			start := *t.m
			start.Steps, start.History, start.GradNorm = 0, nil, nil
			if err := start.writeJSON(opt.Dir); err != nil {
				return nil, errors.Join(d, err)
			}
		}
		return nil, d
	}
	maxCuts := opt.MaxLRCuts
	if maxCuts <= 0 {
		maxCuts = 3
	}
	if len(t.m.LRCuts) >= maxCuts {
		return nil, fmt.Errorf("%w (gave up after %d learning-rate cuts)", d, len(t.m.LRCuts))
	}
	store, _, err := loadCheckpoint(opt.Dir, t.newStore)
	if err != nil {
		return nil, fmt.Errorf("flow: going back to the last checkpoint after %v: %w", d, err)
	}
	back := int(optimizer.GetGlobalStep(store))
	if back > len(t.m.History) {
		return nil, fmt.Errorf("flow: %s: checkpoint at step %d but history has %d steps", opt.Dir, back, len(t.m.History))
	}
	t.m.LRCuts = append(t.m.LRCuts, LRCut{Step: back, Scale: t.m.lrScaleAt(d.Step) * opt.LRCut, Diverged: d.Step,
		What: fmt.Sprintf("%s is %v", d.What, d.Value)})
	t.m.Steps, t.m.History, t.m.GradNorm = back, t.m.History[:back], t.m.GradNorm[:min(back, len(t.m.GradNorm))]
	t.store, t.saved, t.host = store, back, nil
	if err := t.compile(); err != nil {
		return nil, err
	}
	ckpt, err := t.checkpointer(opt.Dir)
	if err != nil {
		return nil, err
	}
	// Record the cut now, with the steps of the checkpoint: a fit stopped before its next save
	// resumes with it.
	return ckpt, t.m.writeJSON(opt.Dir)
}
