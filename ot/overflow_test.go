package ot

import (
	"math"
	"strings"
	"testing"
)

// TestCostOverflowIsRefused: finite points 1e160 apart have squared
// distances of +Inf; every solver must refuse them with an error instead
// of returning an Inf or NaN cost or plan.
func TestCostOverflowIsRefused(t *testing.T) {
	x := []float64{0, 0, 1e160, 0, 2e160, 1}
	y := []float64{1, 0, -1e160, 2, 3e160, 0}
	check := func(name string, cost float64, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error, cost %v", name, cost)
		} else if !strings.Contains(err.Error(), "rescale the data") {
			t.Errorf("%s: error %q does not say what to do", name, err)
		}
	}
	w1, err := W1(x, y, 2)
	check("W1", w1, err)
	w2, err := W2(x, y, 2)
	check("W2", w2, err)
	var cost float64
	p, err := ExactBlocks(x, y, 2, SqEuclidean, 2)
	if p != nil {
		cost = p.Cost
	}
	check("ExactBlocks", cost, err)
	r, err := Sinkhorn(x, y, 2, SinkhornOptions{Cost: SqEuclidean, Epsilon: 0.01})
	if r != nil {
		cost = r.TransportCost
	}
	check("Sinkhorn", cost, err)

	// Just inside the bound the costs are finite.
	x = []float64{0, 0, 1e149, 0}
	y = []float64{1, 0, -1e149, 2}
	for _, c := range []Cost{SqEuclidean, Euclidean} {
		p, err := Exact(x, y, 2, c)
		if err != nil || math.IsInf(p.Cost, 0) || math.IsNaN(p.Cost) {
			t.Errorf("%v at 1e149: cost %v, %v", c, p.Cost, err)
		}
	}
}
