// Package models is what every energy shares: the Energy interface (a value
// and a gradient in x, batched), the Model interface that prediction,
// evaluation and plotting use, the true energy in model units (Truth), and
// the named tensors of a flat parameter buffer. The energies themselves live
// in zoo (the analytic test functions), networks (the learned MLPs, their
// fused loss and Gorgonia graphs) and linear (the linear feature model).
package models

// Energy is a scalar field f: R^d → R with its gradient, evaluated on a batch.
//
// Points are stored row-major: x holds n points of dimension d, point i in
// x[i*d : (i+1)*d]. Implementations must not allocate per point, so callers
// can use them in O(N²) inner loops.
type Energy interface {
	// Dim is the input dimension the energy was built for, or 0 if it is
	// defined in every dimension d ≥ 1.
	Dim() int
	// Eval writes f(x_i) into val[i] and ∇f(x_i) into grad[i*d:(i+1)*d] for
	// the n = len(x)/d points of x. Either output may be nil to skip it.
	Eval(x []float64, d int, val, grad []float64)
}
