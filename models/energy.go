// Package models holds everything that has a value and a gradient in x: the
// analytic zoo of test functions, the learned networks (MLPs with a fused
// pure-Go loss and Gorgonia graphs) and the linear feature model. The generator, the trainer, prediction and plotting all
// talk to the Energy interface.
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
