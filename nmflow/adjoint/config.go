package adjoint

import (
	"fmt"
	"math"

	"github.com/nmflow/nmflow/nmflow/optim"
)

// Loss weightings (Config.Weight).
const (
	WeightOutput  = "output"
	WeightAdjoint = "adjoint"
)

// Config is what a fine-tuning run computes; it is stored with the result, and a resumed run
// must use the same one.
type Config struct {
	// Lambda is λ in p*(θ) ∝ p_base(θ)·exp(λ·r(θ)). It has no default: 0 is valid and leaves the
	// model where it is (the adjoint, hence the loss, is zero).
	Lambda float64 `json:"lambda"`
	Steps  int     `json:"steps"` // SDE steps on [0, 1] (default 40)
	Times  int     `json:"times"` // loss times drawn per trajectory (default 4, at most Steps−1)
	Batch  int     `json:"batch"` // trajectories per iteration (default 32)
	Iters  int     `json:"iters"` // iterations (default 100)
	LR     float64 `json:"lr"`    // Adam learning rate (default 1e-3)
	// Clip is the global gradient-norm clip (default 1; negative disables it).
	Clip float64 `json:"clip"`
	// LossQuantile q: a sample whose loss exceeds the running level c has its gradient scaled by
	// c/loss, c being an EMA (decay LossEMA) of the q-quantile of the per-sample losses of
	// earlier iterations (default 0.9; negative disables clipping).
	LossQuantile float64 `json:"loss_quantile"`
	LossEMA      float64 `json:"loss_ema"` // default 0.9
	// Weight chooses how the loss weighs the grid times; both have the same minimizer at every
	// time, they differ in what an imperfect fit trades off. WeightOutput (the default) measures
	// each term in units of the network's output: ‖Δv − Δv*‖²/s(t)² with s = ∂v/∂output.
	// WeightAdjoint is the loss as the paper writes it, ‖2Δv/σ + σã‖², whose weight 4/(σ·s)²
	// grows like 1/(1 − t)³ for a target-prediction model: there a tiny change of the output
	// near t = 1 outweighs everything else (a trial on an MNIST meta-model diverged).
	Weight string `json:"weight"`
	Seed   uint64 `json:"seed"`
	// Standardize measures the reward in units of its spread: before the first iteration the
	// run draws SpreadSamples nets from the base model's SDE (the grid of Steps) and takes the
	// standard deviation s of their rewards; the tilt is then exp(λ·r/s), i.e. Lambda is in units
	// of 1/s and the λ applied to r is Lambda/s (Result.RewardSpread, Result.LambdaApplied). It
	// makes λ mean the same across rewards and base models: a raw −CE on a task the base nets
	// were not trained for has a scale set by their overconfidence (docs/adjoint.md, "Reward
	// scale"). Off (the Go default) applies Lambda to r as it is; `nmflow finetune` turns it on.
	Standardize bool `json:"standardize,omitempty"`
	// Decay multiplies the learning rate of iteration i by ½(1 + cos(π·i/Iters)), a cosine decay
	// to 0 that quiets the noisy last updates (`nmflow finetune` turns it on: on notebook 06's
	// Fashion-MNIST run it raised the ODE samples' accuracy from 0.599 to 0.635, seed 0).
	Decay bool `json:"decay,omitempty"`
}

// decayAt is the learning-rate factor of iteration it (Config.Decay).
func (c Config) decayAt(it int) float64 {
	if !c.Decay {
		return 1
	}
	return 0.5 * (1 + math.Cos(math.Pi*float64(it)/float64(c.Iters)))
}

// DefaultStandardLambda is `nmflow finetune`'s λ for a standardized reward (docs/adjoint.md,
// "Reward scale"). Measured on notebook 06's MNIST meta-model with the Fashion-MNIST reward
// (10 SDE steps, spread 2.65 nats), 40 iterations: the Fashion accuracy of the ODE samples rose
// with λ up to about 1e4 and no further (0.29 at 800, 0.49 at 8,000, 0.45 at 80,000); at this
// scale the tilt is nearly a maximization of the reward, and the number of iterations is what
// keeps the model close to the base.
const DefaultStandardLambda = 2e4

// SpreadSamples is how many base-model samples Config.Standardize measures the reward's spread
// on (rounded up to whole batches).
const SpreadSamples = 64

// defaultSchedule is fine-tuning's Adam learning rate unless set (no warm-up, decay or floor).
var defaultSchedule = optim.Schedule{LR: 1e-3}

// Defaults fills unset fields and validates.
func (c Config) Defaults() (Config, error) {
	if c.Steps == 0 {
		c.Steps = 40
	}
	if c.Times == 0 {
		c.Times = min(4, max(c.Steps-1, 1))
	}
	if c.Batch == 0 {
		c.Batch = 32
	}
	if c.Iters == 0 {
		c.Iters = 100
	}
	c.LR = optim.Schedule{LR: c.LR}.Fill(defaultSchedule, c.Iters).LR
	if c.Clip == 0 {
		c.Clip = 1
	}
	if c.LossQuantile == 0 {
		c.LossQuantile = 0.9
	}
	if c.LossEMA == 0 {
		c.LossEMA = 0.9
	}
	if c.Weight == "" {
		c.Weight = WeightOutput
	}
	switch {
	case c.Weight != WeightOutput && c.Weight != WeightAdjoint:
		return c, fmt.Errorf("adjoint: unknown loss weighting %q (want %s or %s)", c.Weight, WeightOutput, WeightAdjoint)
	case math.IsNaN(c.Lambda) || math.IsInf(c.Lambda, 0) || c.Lambda < 0:
		return c, fmt.Errorf("adjoint: λ must be a finite number ≥ 0, got %v", c.Lambda)
	case c.Steps < 2:
		return c, fmt.Errorf("adjoint: need at least 2 SDE steps, got %d", c.Steps)
	case c.Times < 1 || c.Times > c.Steps-1:
		return c, fmt.Errorf("adjoint: loss times per trajectory must be in 1..%d (the steps after t = 0), got %d", c.Steps-1, c.Times)
	case c.Batch < 1 || c.Iters < 1:
		return c, fmt.Errorf("adjoint: need batch ≥ 1 and iters ≥ 1, got %d and %d", c.Batch, c.Iters)
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return c, fmt.Errorf("adjoint: learning rate must be > 0, got %v", c.LR)
	case math.IsNaN(c.Clip):
		return c, fmt.Errorf("adjoint: gradient clip must be a number (negative: off), got NaN")
	case c.LossQuantile > 1 || math.IsNaN(c.LossQuantile):
		return c, fmt.Errorf("adjoint: loss-clipping quantile must be in (0, 1] (negative: off), got %v", c.LossQuantile)
	case !(c.LossEMA > 0 && c.LossEMA < 1):
		return c, fmt.Errorf("adjoint: loss-clipping EMA decay must be in (0, 1), got %v", c.LossEMA)
	}
	return c, nil
}
