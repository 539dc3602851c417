package vae

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/ml/nn"
)

// layer is one Linear layer of the encoder or decoder: weights [Out,In] (PyTorch layout, cheaper
// gradients on the Go backend) and biases [Out] under scope /vae/Name.
type layer struct {
	Name    string
	In, Out int
}

// layers lists the encoder's and the decoder's Linear layers for base nets of p parameters:
//
//	encoder: x [P] → enc0 → SiLU … enc{Depth-1} → SiLU → mu, logvar [d_z]
//	decoder: z [d_z] → dec0 → SiLU … dec{Depth-1} → SiLU → out [P]
func (c Config) layers(p int) (enc, dec []layer) {
	in := p
	for i := 0; i < c.Depth; i++ {
		enc = append(enc, layer{fmt.Sprintf("enc%d", i), in, c.Width})
		in = c.Width
	}
	enc = append(enc, layer{"mu", c.Width, c.LatentDim}, layer{"logvar", c.Width, c.LatentDim})
	in = c.LatentDim
	for i := 0; i < c.Depth; i++ {
		dec = append(dec, layer{fmt.Sprintf("dec%d", i), in, c.Width})
		in = c.Width
	}
	dec = append(dec, layer{"out", c.Width, p})
	return enc, dec
}

// apply runs x through l with PyTorch's default init U(±1/√In) for new variables; scope is
// the VAE's own (/vae).
func (l layer) apply(scope *model.Scope, x *Node) *Node {
	s := scope.In("%s", l.Name)
	b := 1 / math.Sqrt(float64(l.In))
	s = s.WithInitializer(initializer.RandomUniformFn(s, -b, b))
	w := s.VariableWithShape("weights", shapes.Make(dtypes.Float32, l.Out, l.In))
	bias := s.VariableWithShape("biases", shapes.Make(dtypes.Float32, l.Out))
	return nn.Dense(x, w.NodeValue(x.Graph()), bias.NodeValue(x.Graph()), compute.DenseLayoutOutputsInput)
}

// encode maps normalized weights x [B,P] to the posterior's mean and log-variance [B,d_z].
func encode(scope *model.Scope, enc []layer, x *Node) (mu, logvar *Node) {
	h := x
	for _, l := range enc[:len(enc)-2] {
		h = swish(l.apply(scope, h))
	}
	return enc[len(enc)-2].apply(scope, h), enc[len(enc)-1].apply(scope, h)
}

// decode maps latents z [B,d_z] to normalized weights [B,P].
func decode(scope *model.Scope, dec []layer, z *Node) *Node {
	return decodeWith(len(dec), z, func(i int, h *Node) *Node { return dec[i].apply(scope, h) })
}

// decodeWith runs the decoder's n dense layers, given by dense (from variables while training,
// from constants in DecoderGraph), with swish between them.
func decodeWith(n int, z *Node, dense func(i int, h *Node) *Node) *Node {
	h := z
	for i := 0; i < n; i++ {
		if h = dense(i, h); i < n-1 {
			h = swish(h)
		}
	}
	return h
}

func swish(x *Node) *Node { return Mul(x, Sigmoid(x)) }

// lossGraph is the VAE loss of a batch x [B,P] with the reparameterization noise eps [B,d_z]:
// the mean over the batch of ‖x − D(μ + σ·ε)‖² + β·KL(N(μ,σ²) ‖ N(0,I)). It also returns the
// reconstruction and KL terms (batch means) for the history.
func lossGraph(scope *model.Scope, c Config, enc, dec []layer, x, eps *Node) (loss, recon, kl *Node) {
	scope = scope.In("vae")
	mu, logvar := encode(scope, enc, x)
	z := Add(mu, Mul(Exp(MulScalar(logvar, 0.5)), eps))
	xh := decode(scope, dec, z)
	b := float64(x.Shape().Dimensions[0])
	recon = DivScalar(ReduceAllSum(Square(Sub(xh, x))), b)
	// KL(N(μ,σ²) ‖ N(0,1)) = ½ Σ (μ² + σ² − 1 − log σ²)
	kl = DivScalar(MulScalar(ReduceAllSum(Sub(Add(Square(mu), Exp(logvar)), AddScalar(logvar, 1))), 0.5), b)
	return Add(recon, MulScalar(kl, c.Beta)), recon, kl
}
