package vae

import (
	"fmt"
	"math"

	"github.com/nmflow/nmflow/nmflow/flow"
	"github.com/nmflow/nmflow/nmflow/optim"
)

// Config is what a weight VAE is and how it is trained; it is stored with the model.
type Config struct {
	LatentDim int `json:"latent_dim"` // d_z (default 32)
	// Width and Depth size both MLPs: Depth hidden layers of Width units (SiLU) on each side.
	Width int `json:"width"` // default 256
	Depth int `json:"depth"` // default 1
	// Beta weighs the KL term: loss = ‖x − D(z)‖² + β·KL(q(z|x) ‖ N(0,I)), both summed over the
	// vector and averaged over the batch (METHODS.md §5; D2NWG uses 1e-6). Small β keeps the
	// reconstructions sharp; the latent flow, not the prior, models the latents' law.
	Beta float64 `json:"beta"` // default 1e-4; must be ≥ 0
	Norm string  `json:"norm"` // weight normalization (flow.NormLayer default, NormParam, NormNone)
	// Align is flow.AlignWeights (default: the zoo is permuted into one order before training and
	// before encoding, package align) or flow.AlignNone.
	Align       string  `json:"align,omitempty"`
	Steps       int     `json:"steps"`        // optimizer steps (default 2000)
	BatchSize   int     `json:"batch_size"`   // default 64
	LR          float64 `json:"lr"`           // peak learning rate (default 1e-3)
	WarmUp      int     `json:"warmup"`       // linear warm-up steps (default Steps/20)
	MinLR       float64 `json:"min_lr"`       // cosine floor as a fraction of LR (default 0.01)
	WeightDecay float64 `json:"weight_decay"` // AdamW decoupled decay (default 1e-5; < 0: none)
	Seed        uint64  `json:"seed"`
}

// defaultSchedule is a VAE fit's learning rate, cosine floor and weight decay unless set; the
// warm-up defaults to Steps/20.
var defaultSchedule = optim.Schedule{LR: 1e-3, MinLR: 0.01, WeightDecay: 1e-5}

// Defaults fills unset fields and validates, with errors that say what was expected.
func (c Config) Defaults() (Config, error) {
	if c.LatentDim == 0 {
		c.LatentDim = 32
	}
	if c.Width == 0 {
		c.Width = 256
	}
	if c.Depth == 0 {
		c.Depth = 1
	}
	if c.Beta == 0 {
		c.Beta = 1e-4
	}
	if c.Norm == "" {
		c.Norm = flow.NormLayer
	}
	if c.Align == "" {
		c.Align = flow.AlignWeights
	}
	if c.Align != flow.AlignWeights && c.Align != flow.AlignNone {
		return c, fmt.Errorf("vae: unknown alignment %q (want %s or %s)", c.Align, flow.AlignWeights, flow.AlignNone)
	}
	if c.Steps == 0 {
		c.Steps = 2000
	}
	if c.BatchSize == 0 {
		c.BatchSize = 64
	}
	sch := optim.Schedule{LR: c.LR, WarmUp: c.WarmUp, MinLR: c.MinLR, WeightDecay: c.WeightDecay}.Fill(defaultSchedule, c.Steps)
	c.LR, c.WarmUp, c.MinLR, c.WeightDecay = sch.LR, sch.WarmUp, sch.MinLR, sch.WeightDecay
	switch {
	case c.LatentDim < 1:
		return c, fmt.Errorf("vae: latent dimension must be ≥ 1 (e.g. 32), got %d", c.LatentDim)
	case c.Width < 1 || c.Depth < 1:
		return c, fmt.Errorf("vae: need width ≥ 1 and depth ≥ 1 hidden layers, got width %d, depth %d", c.Width, c.Depth)
	case c.Beta < 0 || math.IsNaN(c.Beta) || math.IsInf(c.Beta, 0):
		return c, fmt.Errorf("vae: KL weight β must be a finite value ≥ 0 (e.g. 1e-4), got %v", c.Beta)
	case c.Norm != flow.NormLayer && c.Norm != flow.NormParam && c.Norm != flow.NormNone:
		return c, fmt.Errorf("vae: unknown normalization %q (want %s, %s or %s)", c.Norm, flow.NormLayer, flow.NormParam, flow.NormNone)
	case c.Steps < 1 || c.BatchSize < 1 || c.WarmUp < 0 || c.WarmUp > c.Steps:
		return c, fmt.Errorf("vae: need steps ≥ 1, batch ≥ 1, 0 ≤ warmup ≤ steps (got %d, %d, %d)", c.Steps, c.BatchSize, c.WarmUp)
	case !(c.LR > 0) || math.IsInf(c.LR, 0) || c.MinLR < 0 || c.MinLR > 1:
		return c, fmt.Errorf("vae: need lr > 0 and 0 ≤ min_lr ≤ 1 (got %v, %v)", c.LR, c.MinLR)
	}
	return c, nil
}

// lrAt is the learning rate of step s (0-based): linear warm-up, then cosine down to MinLR·LR.
func (c Config) lrAt(s int) float64 { return flow.CosineLR(s, c.Steps, c.WarmUp, c.LR, c.MinLR) }
