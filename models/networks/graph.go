package networks

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// GraphLoss is the loss of Batch (the same as Net.LossGrad) as a Gorgonia
// expression graph, float64, built once for one batch shape (pairs, samples,
// exact or two subsample sets) and reused every step: LossGrad binds the
// parameters and the batch with Let, runs the tape with RunAll and Resets it.
//
// The input gradients ∇V and ∇U are explicit forward ops (see
// graphInputGradient), so the parameter gradient is one first-order
// gorgonia.Grad of the loss: second-order Grad silently returns wrong numbers
// in Gorgonia v0.9.18.
//
// Gorgonia's softplus returns z for z > 16 and its sigmoid 1 for z > 19, so
// where pre-activations go beyond that the graph differs from the fused path
// by up to about 1e-7 in softplus.
type GraphLoss struct {
	shape                *Net // kind and dimension only
	pairs, samples, sets int
	vm                   G.VM
	cost                 *G.Node
	params               []graphParam
	inputs               []graphInput
}

// graphParam is a parameter node holding Params[offset : offset+len(value)]
// (in the node's shape), and the node of its gradient.
type graphParam struct {
	node, grad *G.Node
	offset     int
	value      *tensor.Dense
}

// graphInput is a batch node and the batch field it is filled from.
type graphInput struct {
	node  *G.Node
	value *tensor.Dense
	field func(b *Batch) []float64
}

// graphMLP are the parameter nodes of one network, with W₃ and the biases as
// 1×Hidden rows; a time-dependent V splits W₁ into its rows for x (w1) and
// its last row for t (w1t). b₃ does not enter the loss and has no node.
type graphMLP struct {
	w1, w1t, b1, w2, b2, w3 *G.Node
}

// NewGraphLoss builds the loss graph of n's variant for batches of batchSize
// pairs with samples interaction samples per pair, in one exact set
// (Others[1] == nil) or two subsample sets. Parameters are supplied at each
// LossGrad, so one graph serves any parameter values.
func NewGraphLoss(n *Net, batchSize, samples int, exact bool) (*GraphLoss, error) {
	if batchSize < 1 {
		return nil, fmt.Errorf("loss graph: batch size %d, want at least 1", batchSize)
	}
	gl := &GraphLoss{shape: &Net{Kind: n.Kind, D: n.D, kind: n.kind}, pairs: batchSize, sets: 1}
	if n.kind.interaction {
		if samples < 1 {
			return nil, fmt.Errorf("loss graph for %s: %d interaction samples per pair, want at least 1", n.Kind, samples)
		}
		gl.samples = samples
		if !exact {
			gl.sets = 2
		}
	}
	g := G.NewGraph()
	if err := gl.build(g); err != nil {
		return nil, err
	}
	wrt := make(G.Nodes, len(gl.params))
	for i, p := range gl.params {
		wrt[i] = p.node
	}
	grads, err := G.Grad(gl.cost, wrt...)
	if err != nil {
		return nil, fmt.Errorf("loss graph gradient: %w", err)
	}
	for i := range gl.params {
		gl.params[i].grad = grads[i]
	}
	gl.vm = G.NewTapeMachine(g)
	return gl, nil
}

// build adds the loss to g (see Batch), turning the panics of gorgonia.Must
// into an error.
func (gl *GraphLoss) build(g *G.ExprGraph) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("building the loss graph: %v", r)
		}
	}()
	k, d, pairs := gl.shape.kind, gl.shape.D, gl.pairs
	x := gl.input(g, "x", func(b *Batch) []float64 { return b.X }, pairs, d)
	y := gl.input(g, "y", func(b *Batch) []float64 { return b.Y }, pairs, d)
	w := gl.input(g, "w", func(b *Batch) []float64 { return b.W }, pairs)
	tau := gl.input(g, "tau", func(b *Batch) []float64 { return b.Tau }, pairs, 1)

	potential := gl.mlpParams(g, "V.", 0, d, k.timed)
	var t *G.Node
	if k.timed {
		t = gl.input(g, "t", func(b *Batch) []float64 { return b.T }, pairs, 1)
	}
	// The terms shared by the sets: ∇V(y) (+ β s).
	shared := graphInputGradient(potential, y, t)
	if k.internal {
		score := gl.input(g, "score", func(b *Batch) []float64 { return b.Score }, pairs, d)
		shared = G.Must(G.Add(shared, G.Must(G.Mul(gl.betaParam(g), score))))
	}
	var interaction graphMLP
	if k.interaction {
		interaction = gl.mlpParams(g, "U.", MLPParamCount(gl.shape.potentialInputs(), HiddenWidth), d, false)
	}

	// r_a = τ ⊙ [shared + (1/S) Σ_s ∇U(y − y′_{a,s})] + (y − x).
	displacement := G.Must(G.Sub(y, x))
	residuals := make([]*G.Node, gl.sets)
	for a := range residuals {
		terms := shared
		if k.interaction {
			others := gl.input(g, fmt.Sprintf("others%d", a), func(b *Batch) []float64 { return b.Others[a] }, pairs, gl.samples, d)
			// Rows y_i − y′_{a,i,s}: y (B×1×D) broadcast along the samples.
			diff := G.Must(G.BroadcastSub(G.Must(G.Reshape(y, tensor.Shape{pairs, 1, d})), others, []byte{1}, nil))
			grads := graphInputGradient(interaction, G.Must(G.Reshape(diff, tensor.Shape{pairs * gl.samples, d})), nil)
			mean := G.Must(G.Mean(G.Must(G.Reshape(grads, tensor.Shape{pairs, gl.samples, d})), 1))
			terms = G.Must(G.Add(shared, mean))
		}
		residuals[a] = G.Must(G.Add(G.Must(G.BroadcastHadamardProd(tau, terms, []byte{1}, nil)), displacement))
	}

	// L = Σ_i w_i ⟨r₀(i), r₁(i)⟩ / Σ_i w_i, or Σ_i w_i ‖r₀(i)‖² / Σ_i w_i.
	products := G.Must(G.Square(residuals[0]))
	if gl.sets == 2 {
		products = G.Must(G.HadamardProd(residuals[0], residuals[1]))
	}
	perPair := G.Must(G.Sum(products, 1))
	gl.cost = G.Must(G.Div(G.Must(G.Sum(G.Must(G.HadamardProd(w, perPair)))), G.Must(G.Sum(w))))
	return nil
}

// graphInputGradient builds ∇ₓV for the rows of p (and the column t, when
// the network is time-dependent) as forward ops:
//
//	z₁ = p W₁ (+ t W₁ₜ) + b₁, s₁ = σ(z₁), h₁ = softplus(z₁)
//	z₂ = h₁ W₂ + b₂,          s₂ = σ(z₂)
//	g₂ = s₂ ⊙ W₃ᵀ, a₁ = g₂ W₂ᵀ, g₁ = a₁ ⊙ s₁, ∇ₓV = g₁ W₁ᵀ
//
// (softplus′ = σ; b₃ and the last layer's softplus do not enter ∇V).
func graphInputGradient(m graphMLP, p, t *G.Node) *G.Node {
	z1 := G.Must(G.Mul(p, m.w1))
	if t != nil {
		z1 = G.Must(G.Add(z1, G.Must(G.Mul(t, m.w1t))))
	}
	z1 = G.Must(G.BroadcastAdd(z1, m.b1, nil, []byte{0}))
	s1 := G.Must(G.Sigmoid(z1))
	h1 := G.Must(G.Softplus(z1))
	z2 := G.Must(G.BroadcastAdd(G.Must(G.Mul(h1, m.w2)), m.b2, nil, []byte{0}))
	s2 := G.Must(G.Sigmoid(z2))
	g2 := G.Must(G.BroadcastHadamardProd(s2, m.w3, nil, []byte{0}))
	a1 := G.Must(G.Mul(g2, G.Must(G.Transpose(m.w2))))
	g1 := G.Must(G.HadamardProd(a1, s1))
	return G.Must(G.Mul(g1, G.Must(G.Transpose(m.w1))))
}

// input adds a batch node of the given shape.
func (gl *GraphLoss) input(g *G.ExprGraph, name string, field func(b *Batch) []float64, shape ...int) *G.Node {
	value := tensor.New(tensor.WithShape(shape...), tensor.Of(tensor.Float64))
	node := G.NewTensor(g, tensor.Float64, len(shape), G.WithShape(shape...), G.WithName(name))
	gl.inputs = append(gl.inputs, graphInput{node: node, value: value, field: field})
	return node
}

// param adds a parameter node of the given shape holding the Params values
// from offset on.
func (gl *GraphLoss) param(g *G.ExprGraph, name string, offset int, shape ...int) *G.Node {
	value := tensor.New(tensor.WithShape(shape...), tensor.Of(tensor.Float64))
	node := G.NewTensor(g, tensor.Float64, len(shape), G.WithShape(shape...), G.WithName(name))
	gl.params = append(gl.params, graphParam{node: node, offset: offset, value: value})
	return node
}

// betaParam adds the scalar β, the last of Params.
func (gl *GraphLoss) betaParam(g *G.ExprGraph) *G.Node {
	node := G.NewScalar(g, tensor.Float64, G.WithName("beta"))
	gl.params = append(gl.params, graphParam{node: node, offset: gl.shape.betaIndex()})
	return node
}

// mlpParams adds the nodes of the network whose view starts at offset in
// Params, with dx inputs in x and, if timed, one more for t.
func (gl *GraphLoss) mlpParams(g *G.ExprGraph, prefix string, offset, dx int, timed bool) graphMLP {
	in, h := dx, HiddenWidth
	if timed {
		in++
	}
	l := mlpLayout(prefix, in, h, offset) // W1, b1, W2, b2, W3, b3
	m := graphMLP{
		w1: gl.param(g, l[0].Name, l[0].Offset, dx, h),
		b1: gl.param(g, l[1].Name, l[1].Offset, 1, h),
		w2: gl.param(g, l[2].Name, l[2].Offset, h, h),
		b2: gl.param(g, l[3].Name, l[3].Offset, 1, h),
		w3: gl.param(g, l[4].Name, l[4].Offset, 1, h),
	}
	if timed {
		m.w1t = gl.param(g, l[0].Name+"t", l[0].Offset+dx*h, 1, h)
	}
	return m
}

// LossGrad binds params (Net.Params layout) and the batch, runs the graph,
// writes the gradient of the loss into grad (overwritten; b₃ gets 0) and
// returns the loss.
func (gl *GraphLoss) LossGrad(b *Batch, params, grad []float64) (float64, error) {
	n := gl.shape
	if want := n.paramCount(); len(params) != want || len(grad) != want {
		return 0, fmt.Errorf("loss graph for %s in d = %d: %d parameters and %d gradient values, want %d", n.Kind, n.D, len(params), len(grad), want)
	}
	pairs, sets, err := b.check(n)
	if err != nil {
		return 0, err
	}
	if pairs != gl.pairs || sets != gl.sets || (n.kind.interaction && b.S != gl.samples) {
		return 0, fmt.Errorf("loss graph built for %d pairs, %d samples, %d sets; batch has %d, %d, %d", gl.pairs, gl.samples, gl.sets, pairs, b.S, sets)
	}
	defer gl.vm.Reset()
	for _, p := range gl.params {
		var value any = params[p.offset]
		if p.value != nil {
			data := p.value.Data().([]float64)
			copy(data, params[p.offset:p.offset+len(data)])
			value = p.value
		}
		if err := G.Let(p.node, value); err != nil {
			return 0, err
		}
	}
	for _, in := range gl.inputs {
		copy(in.value.Data().([]float64), in.field(b))
		if err := G.Let(in.node, in.value); err != nil {
			return 0, err
		}
	}
	if err := gl.vm.RunAll(); err != nil {
		return 0, fmt.Errorf("running the loss graph: %w", err)
	}
	clear(grad)
	for _, p := range gl.params {
		switch v := p.grad.Value().Data().(type) {
		case float64:
			grad[p.offset] = v
		case []float64:
			copy(grad[p.offset:], v)
		}
	}
	return gl.cost.Value().Data().(float64), nil
}
