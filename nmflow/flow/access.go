package flow

// Access for packages that build on a fitted meta-model, such as reward fine-tuning (package
// adjoint): the velocity field exactly as the sampler evaluates it, its weights, the source law,
// and a copy of the model with other velocity weights that Load and `nmflow sample` accept.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/checkpoint"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/solve"
)

// VelocityScope is where a sampler store keeps the velocity network's variables (/vel/...).
const VelocityScope = "/vel"

// ComputeBackend returns the backend the model computes on (nil before Fit or Load).
func (m *Model) ComputeBackend() compute.Backend { return m.be }

// Weights returns the store of the velocity weights the sampler uses (the EMA of the fit),
// variables under VelocityScope; nil before Fit or Load. Treat it as read-only: copy the
// variables to train them (see WithWeights for the way back).
func (m *Model) Weights() *model.Store { return m.sampler }

// Field is the velocity field the sampler integrates, in normalized space: the velocity network
// found under scope.In("vel"), followed by Config.Predict's conversion (an endpoint correction
// becomes a velocity by dividing by max(1 − t, 0.01)). x is [B,D]; t is a scalar or [B], of x's
// dtype. Pass the root scope of a store laid out like Weights(), or a sub-scope holding a second
// copy (e.g. "/base" for /base/vel/...).
func (m *Model) Field(scope *model.Scope, x, t *Node) *Node {
	tb := t
	if t.Rank() == 0 {
		tb = BroadcastToDims(t, x.Shape().Dimensions[0])
	}
	vel := scope.In("vel")
	return fieldFromOutput(m.Config.Predict, Velocity(vel, m.Config.Net, x, tb, m.nullCond(vel, x)), t)
}

// FieldScale is ∂v/∂(network output) of Field at times t (any shape): 1 for velocity
// prediction, 1/max(1 − t, 0.01) for target prediction. A loss on the field divided by it is
// measured in the units of the network's output.
func (m *Model) FieldScale(t *Node) *Node {
	if m.Config.Predict != PredictTarget {
		return OnesLike(t)
	}
	return Inverse(Max(OneMinus(t), Scalar(t.Graph(), t.DType(), minRemaining)))
}

// FieldGradients is Field for training the velocity network. Besides the field v it returns
// grads, which maps a scalar loss built from v to the network's trainable variables (under
// scope.In("vel"), in a fixed order) and their gradients. Use it instead of graph.Gradient over the
// network's variables: it forms the weight gradients of the two widest layers itself (see wide),
// faster than autodiff's rule on the Go backend. Gradients with respect to x flow through Field
// as usual.
func (m *Model) FieldGradients(scope *model.Scope, x, t *Node) (v *Node, grads func(loss *Node) ([]*model.Variable, []*Node)) {
	tb := t
	if t.Rank() == 0 {
		tb = BroadcastToDims(t, x.Shape().Dimensions[0])
	}
	vel := scope.In("vel")
	out, w := velocity(vel, m.Config.Net, x, tb, m.nullCond(vel, x))
	grads = func(loss *Node) ([]*model.Variable, []*Node) { return w.gradients(vel, loss) }
	return fieldFromOutput(m.Config.Predict, out, t), grads
}

// DrawSource fills dst ([n,D], normalized space) with draws from the model's source law, exactly
// as Sample draws its starting points.
func (m *Model) DrawSource(rng *rand.Rand, dst []float32) error {
	src := &Source{Kind: m.Config.Source, Layout: m.Base.Layout, Law: m.Base.Init, norm: m.Norm}
	return src.Sample(rng, dst)
}

// SourceMoments returns the per-parameter mean and standard deviation of the source law in
// normalized space: 0 and 1 for SourceGaussian; for SourceKaiming, U(−b, b) of each segment's
// init bound b has mean 0 and std b/√3 in raw space, mapped through the normalizer.
func (m *Model) SourceMoments() (mean, std []float32, err error) {
	p := len(m.Norm.Mean)
	mean, std = make([]float32, p), make([]float32, p)
	switch m.Config.Source {
	case SourceGaussian:
		for i := range std {
			std[i] = 1
		}
	case SourceKaiming:
		for _, s := range m.Base.Layout.Segments {
			b, err := arch.Bound(m.Base.Init, s)
			if err != nil {
				return nil, nil, err
			}
			for i := s.Offset; i < s.Offset+s.Size(); i++ {
				mean[i] = -m.Norm.Mean[i] / m.Norm.Std[i]
				std[i] = float32(b/math.Sqrt(3)) / m.Norm.Std[i]
			}
		}
	default:
		return nil, nil, fmt.Errorf("flow: unknown source %q (want %s or %s)", m.Config.Source, SourceKaiming, SourceGaussian)
	}
	return mean, std, nil
}

// WithWeights returns a copy of the model whose sampler uses the velocity weights found under
// VelocityScope in store (copied, so store may change afterwards). Every variable of the
// model's own velocity network must be there with the same shape.
func (m *Model) WithWeights(store *model.Store) (*Model, error) {
	if m.sampler == nil {
		return nil, fmt.Errorf("flow: model has no weights (fit it, or load it with flow.Load)")
	}
	s := model.NewStore()
	for v := range m.sampler.IterVariables() {
		path := model.JoinPath(v.Scope(), v.Name())
		src := store.GetVariable(path)
		if src == nil || !src.Shape().Equal(v.Shape()) {
			return nil, fmt.Errorf("flow: the new weights lack %s %s (need every variable of the velocity network)", path, v.Shape())
		}
		val, err := src.Value()
		if err != nil {
			return nil, fmt.Errorf("flow: reading %s: %w", path, err)
		}
		clone, err := val.LocalClone()
		if err != nil {
			return nil, fmt.Errorf("flow: copying %s: %w", path, err)
		}
		if _, err := s.CreateVariable(path, clone); err != nil {
			return nil, fmt.Errorf("flow: %w", err)
		}
	}
	c := *m
	c.sampler, c.solvers = s, map[string]*solve.Solver{}
	c.embed, c.guide, c.guideSolvers = nil, nil, nil
	c.Created = ""
	return &c, nil
}

// SaveAs writes the model to dir as Load reads it: model.json and ckpt/ holding the sampler's
// velocity weights (as the EMA weights /ema/vel/...). Unlike the folder written by Fit, it holds
// no optimizer state, so it cannot resume a fit. An existing ckpt/ in dir is replaced.
func (m *Model) SaveAs(dir string) error {
	if m.sampler == nil {
		return fmt.Errorf("flow: model has no weights (fit it, or load it with flow.Load)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("flow: %w", err)
	}
	s := model.NewStore()
	for v := range m.sampler.IterVariables() {
		val, err := v.Value()
		if err != nil {
			return fmt.Errorf("flow: reading %s: %w", v.Path(), err)
		}
		clone, err := val.LocalClone()
		if err != nil {
			return fmt.Errorf("flow: copying %s: %w", v.Path(), err)
		}
		if _, err := s.CreateVariable(emaScope+model.JoinPath(v.Scope(), v.Name()), clone); err != nil {
			return fmt.Errorf("flow: %w", err)
		}
	}
	// Load checks that the checkpoint's step matches model.json's.
	if err := optimizer.GetGlobalStepVar(s).SetValue(tensors.FromScalar(int64(m.Steps))); err != nil {
		return fmt.Errorf("flow: %w", err)
	}
	// Write the checkpoint beside the old one, then swap folders, so a crash leaves one whole ckpt/.
	tmp, err := os.MkdirTemp(dir, ".ckpt-new-")
	if err != nil {
		return fmt.Errorf("flow: %w", err)
	}
	defer os.RemoveAll(tmp)
	h, err := checkpoint.Build(s).Dir(tmp).Keep(1).Done()
	if err == nil {
		err = h.Save()
	}
	if err != nil {
		return fmt.Errorf("flow: writing weights into %s: %w", dir, err)
	}
	final := filepath.Join(dir, "ckpt")
	old := ""
	if exists(final) {
		old = strings.Replace(tmp, ".ckpt-new-", ".ckpt-old-", 1)
		if err := os.Rename(final, old); err != nil {
			return fmt.Errorf("flow: %w", err)
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("flow: %w", err)
	}
	if old != "" {
		os.RemoveAll(old)
	}
	return m.writeJSON(dir)
}
