package ot

import "math"

// W1 returns the exact 1-Wasserstein distance between the uniform measures
// on x (n points) and y (m points) of dimension d: the optimal transport
// cost for the Euclidean cost ‖x − y‖.
func W1(x, y []float64, d int) (float64, error) {
	p, err := Exact(x, y, d, Euclidean)
	if err != nil {
		return 0, err
	}
	return p.Cost, nil
}

// W2 returns the exact 2-Wasserstein distance between the uniform measures
// on x and y: the square root of the optimal transport cost for ‖x − y‖²
// (the distance, not its square).
func W2(x, y []float64, d int) (float64, error) {
	p, err := Exact(x, y, d, SqEuclidean)
	if err != nil {
		return 0, err
	}
	return math.Sqrt(max(p.Cost, 0)), nil
}
