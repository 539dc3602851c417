package flow

import (
	"fmt"
	"math"

	"github.com/nmflow/nmflow/nmflow/optim"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// Config: what a meta-model is and how it is trained, its defaults and their validation.

// Config is what a meta-model is and how it is trained; it is stored with the model.
type Config struct {
	Method string `json:"method"` // MethodCFM (default), MethodMMFM or MethodJKO
	Source string `json:"source"` // SourceKaiming (default) or SourceGaussian
	// Coupling pairs source draws with trained nets: CouplingIndependent (default) generalizes
	// from fresh inits; CouplingTrajectory pairs each run's own init with its own path, which only
	// retraces the zoo's runs (R examples are too few to learn how a new init moves); CouplingOT.
	Coupling string `json:"coupling"`
	// Align is AlignWeights (default: the zoo's hidden units are permuted into one order before
	// fitting, package align; a zoo already aligned is used as it is) or AlignNone (the default of
	// conditional fits, where it measured better; FitConditional aligns each task on its own).
	Align string  `json:"align,omitempty"`
	Sigma float64 `json:"sigma"` // noise of the path, x_t = path(t) + σ·ε (MMFM adaptive: the peak M)
	Norm  string  `json:"norm"`  // NormLayer (default), NormParam, NormNone
	// MMFM: the interpolant through each run's anchors (the source draw at t = 0, Intermediates
	// checkpoints, the Target checkpoint at t = 1); see mmfm.go.
	MMFM MMFMConfig `json:"mmfm,omitzero"`
	// Intermediates (MMFM and JKO) is the number k of intermediate checkpoints used as anchors,
	// evenly spread between the init and the target checkpoint: 0 takes all of them,
	// NoIntermediates none. JKO then takes k+1 steps.
	Intermediates int `json:"intermediates,omitempty"`
	// JKO: the potential's step size and time dependence; see jko.go.
	JKO JKOConfig `json:"jko,omitzero"`
	// Predict is what the network outputs: PredictVelocity (v directly, the textbook CFM loss) or
	// PredictTarget (CFM's default: a correction D − x_t to D = x_t + (1 − t)·u_t, the point the
	// path's tangent reaches at t = 1 — x1 itself on CFM's straight path — with velocity
	// (D − x_t)/(1 − t)). The second removes the source sample exactly, so the network only has to
	// denoise towards trained weights. MMFM defaults to PredictVelocity, JKO takes it only.
	Predict string `json:"predict"`
	// TimeSkew > 1 draws training times as t = u^TimeSkew (u uniform), putting more weight on early
	// times, where the network must learn which trained network a noisy input is heading to.
	TimeSkew float64   `json:"time_skew,omitempty"`
	Net      NetConfig `json:"net"`
	// Target is the zoo checkpoint used as x1 (default -1: the last). Source inits are checkpoint 0.
	Target      int     `json:"target"`
	Steps       int     `json:"steps"`        // optimizer steps (default 2000; JKO DefaultJKOSteps)
	BatchSize   int     `json:"batch_size"`   // default 64
	LR          float64 `json:"lr"`           // peak learning rate (default 3e-3)
	WarmUp      int     `json:"warmup"`       // linear warm-up steps (default Steps/20)
	MinLR       float64 `json:"min_lr"`       // cosine floor as a fraction of LR (default 0.01)
	WeightDecay float64 `json:"weight_decay"` // AdamW decoupled decay (default 0.01)
	Clip        float64 `json:"clip"`         // global gradient-norm clip (default 1; <0 disables)
	EMA         float64 `json:"ema"`          // EMA decay of the weights used for sampling (default 0.99)
	Seed        uint64  `json:"seed"`
	// Cond makes the model conditional on a task's support set (FitConditional; see CondConfig).
	// nil: unconditional, as before (the field is left out of model.json).
	Cond *CondConfig `json:"cond,omitempty"`
}

// defaultSchedule is a fit's learning rate, cosine floor and weight decay unless set; the warm-up
// defaults to Steps/20.
var defaultSchedule = optim.Schedule{LR: 3e-3, MinLR: 0.01, WeightDecay: 0.01}

// Defaults fills unset fields and validates.
func (c Config) Defaults() (Config, error) {
	if c.Method == "" {
		c.Method = MethodCFM
	}
	if c.Method == MethodMMFM || c.Method == MethodJKO {
		c.MMFM = c.MMFM.withDefaults()
	}
	if c.Method == MethodJKO {
		c.JKO = c.JKO.withDefaults()
	}
	if c.Source == "" {
		c.Source = SourceKaiming
	}
	if c.Coupling == "" {
		c.Coupling = CouplingIndependent
	}
	if c.Align == "" {
		c.Align = AlignWeights
		if c.Cond != nil {
			// Measured on notebook 04's MNIST and Fashion-MNIST zoos (docs/conditional.md, "Step
			// budget and task set"): at w = 2, 90% and 85% of the zoos unaligned, 83% and 82%
			// with each task aligned on its own.
			c.Align = AlignNone
		}
	}
	if c.Norm == "" {
		c.Norm = NormLayer
	}
	if c.Predict == "" {
		// CFM: endpoint prediction. MMFM: the path's own velocity — at the same accuracy its nets
		// sit with the zoo's (energy −0.20 against 11.9 with endpoint prediction, whose tangent
		// extrapolation overshoots; docs/metamodel.md). JKO: velocity is its only choice.
		c.Predict = PredictTarget
		if c.Method != MethodCFM {
			c.Predict = PredictVelocity
		}
	}
	if c.TimeSkew == 0 {
		c.TimeSkew = 1
		if c.Predict == PredictTarget {
			c.TimeSkew = DefaultTimeSkew
		}
	}
	if c.Method == MethodJKO && c.Net.Width == 0 {
		c.Net.Width = DefaultJKOWidth
	}
	c.Net = c.Net.withDefaults()
	if c.Target == 0 {
		c.Target = -1
	}
	// A conditional fit's default budget depends on how many runs its tasks hold: FitConditional
	// sets it (CondConfig.StepsPerRun); until then Steps stays 0.
	condSteps := c.Cond != nil && c.Steps == 0
	if c.Steps == 0 && c.Cond == nil {
		c.Steps = 2000 // 1,000 gave 88% of the zoo on notebook 02's zoo, 2,000 93%
		if c.Method == MethodJKO {
			c.Steps = DefaultJKOSteps
		}
	}
	if c.BatchSize == 0 {
		c.BatchSize = 64
	}
	sch := optim.Schedule{LR: c.LR, WarmUp: c.WarmUp, MinLR: c.MinLR, WeightDecay: c.WeightDecay}.Fill(defaultSchedule, c.Steps)
	c.LR, c.WarmUp, c.MinLR, c.WeightDecay = sch.LR, sch.WarmUp, sch.MinLR, sch.WeightDecay
	if c.Clip == 0 {
		c.Clip = 1
	}
	if c.EMA == 0 {
		c.EMA = 0.99
	}
	switch {
	case c.Method != MethodCFM && c.Method != MethodMMFM && c.Method != MethodJKO:
		return c, fmt.Errorf("flow: unknown method %q (want %s, %s or %s)", c.Method, MethodCFM, MethodMMFM, MethodJKO)
	case c.Method == MethodJKO && (c.Predict != PredictVelocity || c.Coupling == CouplingOT || c.Sigma != 0 || c.TimeSkew != 1):
		return c, fmt.Errorf("flow: %s fits a potential on consecutive checkpoints: it takes no --predict target, ot coupling, sigma or time skew", MethodJKO)
	case c.Intermediates < NoIntermediates:
		return c, fmt.Errorf("flow: intermediates must be ≥ 0 (0: all checkpoints) or %d (none), got %d", NoIntermediates, c.Intermediates)
	case c.Align != AlignWeights && c.Align != AlignNone:
		return c, fmt.Errorf("flow: unknown alignment %q (want %s or %s)", c.Align, AlignWeights, AlignNone)
	case c.Method == MethodMMFM && c.Coupling == CouplingOT:
		return c, fmt.Errorf("flow: %s supports the %s and %s couplings, not %s", MethodMMFM, CouplingTrajectory, CouplingIndependent, CouplingOT)
	case c.Source != SourceKaiming && c.Source != SourceGaussian:
		return c, fmt.Errorf("flow: unknown source %q (want %s or %s)", c.Source, SourceKaiming, SourceGaussian)
	case c.Coupling != CouplingTrajectory && c.Coupling != CouplingIndependent && c.Coupling != CouplingOT:
		return c, fmt.Errorf("flow: unknown coupling %q (want %s, %s or %s)", c.Coupling, CouplingTrajectory, CouplingIndependent, CouplingOT)
	case c.Coupling == CouplingTrajectory && c.Source != SourceKaiming:
		return c, fmt.Errorf("flow: the trajectory coupling pairs each run's own init with its final weights, so it needs the %s source", SourceKaiming)
	case c.Predict != PredictVelocity && c.Predict != PredictTarget:
		return c, fmt.Errorf("flow: unknown prediction %q (want %s or %s)", c.Predict, PredictVelocity, PredictTarget)
	case !(c.TimeSkew >= 1) || math.IsInf(c.TimeSkew, 0):
		return c, fmt.Errorf("flow: time skew must be ≥ 1 (1: uniform times), got %v", c.TimeSkew)
	case c.Sigma < 0 || math.IsNaN(c.Sigma):
		return c, fmt.Errorf("flow: sigma must be ≥ 0, got %v", c.Sigma)
	case (c.Steps < 1 && !condSteps) || c.BatchSize < 1 || c.WarmUp < 0 || (c.WarmUp > c.Steps && !condSteps):
		return c, fmt.Errorf("flow: need steps ≥ 1, batch ≥ 1, 0 ≤ warmup ≤ steps (got %d, %d, %d)", c.Steps, c.BatchSize, c.WarmUp)
	case !(c.LR > 0) || c.MinLR < 0 || c.MinLR > 1 || c.WeightDecay < 0 || c.EMA < 0 || c.EMA >= 1:
		return c, fmt.Errorf("flow: need lr > 0, 0 ≤ min_lr ≤ 1, weight_decay ≥ 0, 0 ≤ ema < 1")
	}
	if c.Cond != nil {
		cc := *c.Cond
		if err := cc.defaults(&c.Net, c.Method, condSteps); err != nil {
			return c, err
		}
		c.Cond = &cc
	}
	if err := c.Net.validate(); err != nil {
		return c, err
	}
	if c.Method == MethodMMFM || c.Method == MethodJKO {
		if err := c.MMFM.validate(); err != nil {
			return c, err
		}
	}
	if c.Method == MethodJKO {
		return c, c.JKO.validate()
	}
	return c, nil
}

// NeedsAlign says whether a fit (or a VAE) with alignment mode mode must align z first: not when it is
// aligned already, has one run, or records no architecture (a bare layout has no known units).
func NeedsAlign(mode string, z *traj.Zoo) bool {
	return mode == AlignWeights && z.Meta.Aligned == nil && z.Runs > 1 && z.Meta.Arch.Kind != ""
}

// JKO's default step budget and potential width, measured on issue 17's zoo (docs/metamodel.md,
// NM-JKO): with one step per interval 200 steps did as well as 800; with sub-steps, 600 steps at
// width 256 reached 87% of the zoo's accuracy against 84% at width 128, in 8.4 minutes on one
// busy core (the former default, 2,000 steps at width 128, took longer for 75%).
const (
	DefaultJKOSteps = 600
	DefaultJKOWidth = 256
)

// DefaultTimeSkew is the time skew that goes with endpoint prediction: most training times land
// early, where the network must tell which trained net a still-noisy point is heading to.
const DefaultTimeSkew = 5

// Values of Config.Align.
const (
	AlignWeights = "weights" // permutation alignment by weight matching (package align)
	AlignNone    = "none"
)

// Methods of Config.Method.
const (
	MethodCFM  = "cfm"  // conditional flow matching on the straight path init → final (§2)
	MethodMMFM = "mmfm" // multi-marginal flow matching through intermediate checkpoints (§3)
	MethodJKO  = "jko"  // JKOnet*-style potential, one explicit step per checkpoint interval (§4)
)
