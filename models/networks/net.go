package networks

import (
	"fmt"
	"github.com/jkonet-gpu/jkonet-gpu/models"
	"math/rand/v2"
	"strings"
)

// netKind is a model variant with learned networks (docs/design.md
// §4.1): V is always an MLP; the others add terms to the residual.
type netKind struct {
	name        string
	interaction bool // an MLP interaction kernel U
	internal    bool // a scalar β times the density score
	timed       bool // V is an MLP on [x, t], differentiated in x only
	// atSource: ∇V is fitted at the source of each pair, not the target
	// (docs/design.md §3.1), and prediction steps explicitly (§6.2).
	atSource bool
}

var netKinds = []netKind{
	{name: "jkonet-star", interaction: true, internal: true},
	{name: "potential"},
	{name: "potential-internal", internal: true},
	{name: "potential-interaction", interaction: true},
	{name: "time-potential", timed: true, atSource: true},
}

// FitsAtSource reports whether the variant kind fits ∇V at the source of
// each pair (see Net.FitsAtSource); false for a kind that is not a network.
func FitsAtSource(kind string) bool {
	for _, k := range netKinds {
		if k.name == kind {
			return k.atSource
		}
	}
	return false
}

// Kinds lists the model variants NewNet builds.
func Kinds() []string {
	names := make([]string, len(netKinds))
	for i, k := range netKinds {
		names[i] = k.name
	}
	return names
}

// PCG streams of the initialisation, so V and U are drawn independently.
const (
	potentialStream   = 1
	interactionStream = 2
)

// Net is a model variant with learned networks and its parameters, all in one
// flat buffer (the gradient of a training step has the same layout, so data
// parallelism all-reduces one buffer):
//
//	Params = [V | U | β]
//
// where V and U are MLP views (see MLP for their inner layout), U present for
// jkonet-star and potential-interaction, β (one number) for jkonet-star and
// potential-internal. V has input dimension D, or D+1 for time-potential (the
// last input is the time), and U has input dimension D. Layout names every
// tensor. The training loss uses the signed β; prediction uses |β|.
//
// LossGrad reuses a workspace held by the Net, so it must not be called
// concurrently on one Net; the energies of Potential, PotentialAt and
// Interaction may be evaluated concurrently.
type Net struct {
	Kind   string
	D      int
	Params []float64

	kind  netKind
	fused *fusedLoss
}

// NewNet builds the named variant in dimension d with LeCun-normal weights
// (N(0, 1/fan_in)), zero biases and β = 0. V and U are drawn from independent
// PCG streams of seed.
func NewNet(kind string, d int, seed uint64) (*Net, error) {
	var k netKind
	for _, c := range netKinds {
		if c.name == kind {
			k = c
		}
	}
	if k.name == "" {
		return nil, fmt.Errorf("unknown network model %q (want one of: %s)", kind, strings.Join(Kinds(), ", "))
	}
	if err := k.checkDim(d); err != nil {
		return nil, err
	}
	n := &Net{Kind: kind, D: d, kind: k}
	n.Params = make([]float64, n.paramCount())
	n.potential().initLeCun(rand.New(rand.NewPCG(seed, potentialStream)))
	if k.interaction {
		n.interaction().initLeCun(rand.New(rand.NewPCG(seed, interactionStream)))
	}
	return n, nil
}

// Dim is the particle dimension.
func (n *Net) Dim() int { return n.D }

// HasInteraction reports whether the variant has an interaction network U.
func (n *Net) HasInteraction() bool { return n.kind.interaction }

// HasInternal reports whether the variant has the internal-energy term β.
func (n *Net) HasInternal() bool { return n.kind.internal }

// TimeDependent reports whether V takes the time as a last input.
func (n *Net) TimeDependent() bool { return n.kind.timed }

// FitsAtSource reports whether the variant fits ∇V at the source x of each
// pair, τ∇V(x) + (y − x) = 0 (the explicit step's condition), rather than at
// the target y (the JKO step's): time-potential (docs/design.md §3.1). Such a
// model predicts with the explicit step.
func (n *Net) FitsAtSource() bool { return n.kind.atSource }

// Potential is the network V as an models.Energy in its own input dimension: D, or
// D+1 on [x, t] for time-potential (then its gradient includes ∂V/∂t; use
// PotentialAt for the field in x).
func (n *Net) Potential() models.Energy { return n.potential() }

// PotentialAt is x ↦ V(x) in dimension D at time t (t is ignored unless the
// variant is time-dependent); its gradient is in x only.
func (n *Net) PotentialAt(t float64) models.Energy {
	if n.kind.timed {
		return timedEnergy{n.potential(), t}
	}
	return n.potential()
}

// Interaction is the kernel U in dimension D, or nil if the variant has none.
func (n *Net) Interaction() models.Energy {
	if !n.kind.interaction {
		return nil
	}
	return n.interaction()
}

// Beta is the signed learned β (0 if the variant has none).
func (n *Net) Beta() float64 {
	if i := n.betaIndex(); i >= 0 {
		return n.Params[i]
	}
	return 0
}

// Layout names the tensors of Params: "V.W1", "V.b1", "V.W2", "V.b2", "V.W3",
// "V.b3", the same with "U." for the interaction, and "beta" (a scalar, shape
// []).
func (n *Net) Layout() []models.ParamTensor { return n.kind.layout(n.D) }

// layout is Net.Layout for the variant in dimension d, computed without
// a Net, so a model file's declared dimension can be checked before
// anything is allocated from it.
func (k netKind) layout(d int) []models.ParamTensor {
	in := k.potentialInputs(d)
	layout := mlpLayout("V.", in, HiddenWidth, 0)
	if k.interaction {
		layout = append(layout, mlpLayout("U.", d, HiddenWidth, MLPParamCount(in, HiddenWidth))...)
	}
	if k.internal {
		layout = append(layout, models.ParamTensor{Name: "beta", Offset: k.paramCount(d) - 1, Shape: []int{}})
	}
	return layout
}

// potentialInputs is the input dimension of V.
func (n *Net) potentialInputs() int { return n.kind.potentialInputs(n.D) }

func (k netKind) potentialInputs(d int) int {
	if k.timed {
		return d + 1
	}
	return d
}

// paramCount is the length of Params for the variant and dimension.
func (n *Net) paramCount() int { return n.kind.paramCount(n.D) }

func (k netKind) paramCount(d int) int {
	count := MLPParamCount(k.potentialInputs(d), HiddenWidth)
	if k.interaction {
		count += MLPParamCount(d, HiddenWidth)
	}
	if k.internal {
		count++
	}
	return count
}

// potential is the view of V in Params.
func (n *Net) potential() MLP {
	in := n.potentialInputs()
	return MLP{In: in, Hidden: HiddenWidth, Params: n.Params[:MLPParamCount(in, HiddenWidth)]}
}

// interaction is the view of U in Params; only for variants that have one.
func (n *Net) interaction() MLP {
	lo := MLPParamCount(n.potentialInputs(), HiddenWidth)
	return MLP{In: n.D, Hidden: HiddenWidth, Params: n.Params[lo : lo+MLPParamCount(n.D, HiddenWidth)]}
}

// betaIndex is the index of β in Params, or −1.
func (n *Net) betaIndex() int {
	if !n.kind.internal {
		return -1
	}
	return n.paramCount() - 1
}

// timedEnergy is x ↦ V([x, t]) of a network on [x, t], differentiated in x.
type timedEnergy struct {
	v MLP
	t float64
}

func (e timedEnergy) Dim() int { return e.v.In - 1 }

func (e timedEnergy) Eval(x []float64, d int, val, grad []float64) {
	if d != e.v.In-1 {
		panic(fmt.Sprintf("models: time-dependent potential in dimension %d evaluated in dimension %d", e.v.In-1, d))
	}
	e.v.evalAt(x, d, e.t, val, grad)
}
