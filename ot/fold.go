package ot

import "fmt"

// FoldedFraction's neighbourhood and sample sizes.
const (
	foldNeighbours = 10
	foldSample     = 2048
)

// FoldedFraction returns the fraction of the steps x_i → y_i (n points in
// dimension d, y_i paired with x_i) that fold space: among the 10 sources
// nearest to x_i there is an x_j with ⟨y_i − y_j, x_i − x_j⟩ < 0, so the two
// particles pass each other.
//
// A step that folds is neither an optimal transport map for the squared cost
// (the support of an optimal plan is cyclically monotone) nor the JKO step of
// any energy: for p = argmin_z V(z) + ‖z − x‖²/2τ, adding the optimality
// inequalities of p₁ = p(x₁) and p₂ = p(x₂) gives ⟨p₁ − p₂, x₁ − x₂⟩ ≥ 0
// whatever V is. JKOnet* cannot fit data whose steps fold, and their OT
// couplings do not follow the trajectories.
//
// Beyond 2048 points it checks 2048 sources evenly spaced by index, each
// against its neighbours among all n: O(min(n, 2048)·n·d).
func FoldedFraction(x, y []float64, d int) (float64, error) {
	return foldedFraction(x, y, d, foldNeighbours, foldSample)
}

func foldedFraction(x, y []float64, d, k, sample int) (float64, error) {
	n, m, err := checkClouds(x, y, d, SqEuclidean)
	if err != nil {
		return 0, err
	}
	if n != m {
		return 0, fmt.Errorf("ot: a step pairs each source with one target, got %d sources and %d targets", n, m)
	}
	checked := make([]int, min(n, sample))
	xs := make([]float64, 0, len(checked)*d)
	for r := range checked {
		checked[r] = r * n / len(checked)
		xs = append(xs, x[checked[r]*d:(checked[r]+1)*d]...)
	}
	// k+1 nearest, the source itself among them.
	near := nearestPerRow(newCostMatrix(xs, x, d, SqEuclidean, 0), min(k+1, n))
	folded := 0
	for r, i := range checked {
		if foldsWithAny(x, y, d, i, near[r]) {
			folded++
		}
	}
	return float64(folded) / float64(len(checked)), nil
}

// foldsWithAny reports whether the step of point i and that of one of the
// neighbours in near move towards each other past one another.
func foldsWithAny(x, y []float64, d, i int, near []arc) bool {
	for _, a := range near {
		j := int(a.col)
		if j == i {
			continue
		}
		var dot float64
		for c := range d {
			dot += (x[i*d+c] - x[j*d+c]) * (y[i*d+c] - y[j*d+c])
		}
		if dot < 0 {
			return true
		}
	}
	return false
}
