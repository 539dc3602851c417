package flow

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/nmflow/nmflow/nmflow"
	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/solve"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// Model: a fitted meta-model's configuration, normalizer, history and sampling weights;
// model.json, Save and Load.

// ModelFormat names the meta-model directory format (model.json + GoMLX checkpoint in ckpt/).
const (
	ModelFormat  = "nmflow.metamodel"
	ModelVersion = 1
	modelFile    = "model.json"
)

// BaseInfo describes the base networks a meta-model generates.
type BaseInfo struct {
	Arch    arch.Spec        `json:"arch"`
	Layout  arch.Layout      `json:"layout"`
	Init    string           `json:"init"`
	Dataset traj.DatasetMeta `json:"dataset"`
	ZooSeed uint64           `json:"zoo_seed"`
	Runs    int              `json:"runs"`
	Steps   []int64          `json:"steps"`
}

func baseOf(z *traj.Zoo) BaseInfo {
	return BaseInfo{Arch: z.Meta.Arch, Layout: z.Meta.Layout, Init: z.Meta.Init, Dataset: z.Meta.Dataset,
		ZooSeed: z.Meta.Seed, Runs: z.Runs, Steps: z.Steps}
}

// Model is a fitted meta-model: configuration, normalization, training history, and the EMA
// weights of its velocity network (used for sampling).
type Model struct {
	nmflow.Provenance // format, versions, backend, creation time

	Config           Config      `json:"config"`
	Base             BaseInfo    `json:"base"`
	Norm             *Normalizer `json:"normalizer"`
	TargetCheckpoint int         `json:"target_checkpoint"`
	// AnchorCheckpoints and AnchorTimes place MMFM's anchors (zoo checkpoint → flow time).
	AnchorCheckpoints []int     `json:"anchor_checkpoints,omitempty"`
	AnchorTimes       []float64 `json:"anchor_times,omitempty"`
	Steps             int       `json:"steps_done"`
	History           []float32 `json:"loss_history"`
	GradNorm          []float32 `json:"grad_norm_history"`
	WallSeconds       float64   `json:"wall_seconds"`
	// StepSeconds is the wall time per training step, WallSeconds / Steps (checkpoints included).
	StepSeconds float64 `json:"step_seconds,omitempty"`
	// LRCuts lists the learning-rate cuts made after divergences (Options.LRCut), in order; a
	// resumed fit reapplies them (see lrScaleAt).
	LRCuts []LRCut `json:"lr_cuts,omitempty"`

	be      compute.Backend
	sampler *model.Store
	solvers map[string]*solve.Solver
	jkoStep *model.Exec // JKO's compiled explicit step
	// Conditional models (cond.go, guide.go): the support encoder, and the guided sampler's store and solvers.
	embed        *model.Exec
	guide        *model.Store
	guideSolvers map[string]*solve.Solver
}

// LRCut records one learning-rate cut (Options.LRCut): the fit went back to its checkpoint at
// step Step and trains from there with the learning-rate schedule multiplied by Scale.
type LRCut struct {
	Step     int     `json:"step"`        // steps done at the checkpoint gone back to: the first step at Scale
	Scale    float64 `json:"scale"`       // multiplier of the schedule from Step on (the product of the cuts so far)
	Diverged int     `json:"diverged_at"` // the step whose loss or gradient norm was not finite
	What     string  `json:"what"`        // what was not finite, e.g. "loss is NaN"
}

// lrScaleAt is the learning-rate multiplier of step s: that of the last cut made at or before s.
// Cuts go back to checkpoints, which only move forward, so their steps do not decrease; a fit
// resumed from an earlier checkpoint than a cut's thus reapplies the cut at the same step.
func (m *Model) lrScaleAt(s int) float64 {
	scale := 1.0
	for _, c := range m.LRCuts {
		if c.Step <= s {
			scale = c.Scale
		}
	}
	return scale
}

func (m *Model) writeJSON(dir string) error {
	m.Stamp(ModelFormat, ModelVersion, m.be)
	if m.Steps > 0 {
		m.StepSeconds = m.WallSeconds / float64(m.Steps)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("flow: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".model-*.json")
	if err != nil {
		return fmt.Errorf("flow: %w", err)
	}
	if _, err = tmp.Write(b); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, modelFile))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("flow: writing %s: %w", filepath.Join(dir, modelFile), err)
	}
	return nil
}

// Save writes model.json into dir (the weights are in dir/ckpt, written during the fit).
func (m *Model) Save(dir string) error {
	if !exists(filepath.Join(dir, "ckpt")) {
		return fmt.Errorf("flow: %s has no ckpt/ folder: fit with Options.Dir set to save a model", dir)
	}
	return m.writeJSON(dir)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("flow: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("flow: %s is not a valid model file: %w", path, err)
	}
	return nil
}

// ReadModelJSON reads dir's model.json alone: the configuration and progress of a fit, finished
// or not, without its weights (Load wants a finished fit). It returns nil, nil when dir holds none.
func ReadModelJSON(dir string) (*Model, error) {
	js := filepath.Join(dir, modelFile)
	if _, err := os.Stat(js); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	var m Model
	if err := readJSON(js, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// adoptEMA builds the sampling store: the velocity network's variables set to their EMA values.
func (m *Model) adoptEMA(train *model.Store) error {
	s := model.NewStore()
	n := 0
	for v := range train.IterVariables() {
		path := model.JoinPath(v.Scope(), v.Name())
		rest, ok := strings.CutPrefix(path, emaScope+"/vel/")
		if !ok {
			continue
		}
		val, err := v.Value()
		if err != nil {
			return fmt.Errorf("flow: reading %s: %w", path, err)
		}
		clone, err := val.LocalClone()
		if err != nil {
			return fmt.Errorf("flow: copying %s: %w", path, err)
		}
		if _, err := s.CreateVariable("/vel/"+rest, clone); err != nil {
			return fmt.Errorf("flow: %w", err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("flow: the checkpoint holds no EMA weights (/ema/vel/...)")
	}
	m.sampler, m.solvers, m.jkoStep = s, map[string]*solve.Solver{}, nil
	m.embed, m.guide, m.guideSolvers = nil, nil, nil
	return nil
}

// Load reads a meta-model directory written by Fit (model.json + ckpt/).
func Load(dir string, be compute.Backend) (*Model, error) {
	var m Model
	if err := readJSON(filepath.Join(dir, modelFile), &m); err != nil {
		return nil, err
	}
	if m.Format != ModelFormat || m.Version < 1 || m.Version > ModelVersion {
		return nil, fmt.Errorf("flow: %s is not an nmflow meta-model (format %q version %d)", dir, m.Format, m.Version)
	}
	if m.Steps < m.Config.Steps {
		return nil, fmt.Errorf("flow: %s holds an unfinished fit (%d of %d steps); run the same fit again to finish it", dir, m.Steps, m.Config.Steps)
	}
	if err := m.Base.Layout.Validate(); err != nil {
		return nil, err
	}
	if err := m.Norm.check(m.Base.Layout.Size()); err != nil {
		return nil, err
	}
	if be == nil {
		var err error
		if be, _, err = backend.Default(); err != nil {
			return nil, err
		}
	}
	m.be = be
	train, loaded, err := loadCheckpoint(dir, func() (*model.Store, error) { return model.NewStore(), nil })
	switch {
	case err != nil:
		return nil, fmt.Errorf("flow: loading weights from %s: %w", dir, err)
	case !loaded:
		return nil, fmt.Errorf("flow: loading weights from %s: no checkpoint in %s", dir, filepath.Join(dir, "ckpt"))
	}
	// model.json is written before each checkpoint: a kill during that save leaves it ahead.
	if gs := int(optimizer.GetGlobalStep(train)); gs != m.Steps {
		return nil, fmt.Errorf("flow: %s: %s is at step %d but its checkpoint at step %d: the fit was interrupted while saving; run the same fit again to finish it", dir, modelFile, m.Steps, gs)
	}
	if err := m.adoptEMA(train); err != nil {
		return nil, err
	}
	return &m, nil
}
