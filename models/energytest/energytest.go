// Package energytest checks the contract of models.Energy for the tests of
// the packages that implement it.
package energytest

import (
	"slices"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/models"
)

// Eval evaluates e at the points x (in dimension d), checks that Eval with
// either output nil gives the other output unchanged, and returns the values
// and gradients.
func Eval(t testing.TB, name string, e models.Energy, x []float64, d int) (val, grad []float64) {
	t.Helper()
	n := len(x) / d
	val, grad = make([]float64, n), make([]float64, n*d)
	e.Eval(x, d, val, grad)
	valOnly, gradOnly := make([]float64, n), make([]float64, n*d)
	e.Eval(x, d, valOnly, nil)
	e.Eval(x, d, nil, gradOnly)
	if !slices.Equal(val, valOnly) || !slices.Equal(grad, gradOnly) {
		t.Errorf("%s: Eval with a nil output differs from the full Eval", name)
	}
	return val, grad
}

// Step is the step h of CentralDifference.
const Step = 1e-5

// CentralDifference is (f(v + h·e_i) − f(v − h·e_i)) / 2h with h = Step: the
// i-th partial derivative of e at the point v, to O(h²) plus rounding of
// about ε|f|/h.
func CentralDifference(e models.Energy, v []float64, i int) float64 {
	d := len(v)
	w := slices.Clone(v)
	fp, fm := make([]float64, 1), make([]float64, 1)
	w[i] = v[i] + Step
	e.Eval(w, d, fp, nil)
	w[i] = v[i] - Step
	e.Eval(w, d, fm, nil)
	return (fp[0] - fm[0]) / (2 * Step)
}
