package networks

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestGraphMatchesFused checks, for every variant with one exact set and with
// two subsample sets, that one graph reused over several batches and
// parameter values gives the fused loss and gradient to 1e-10 (relative to
// the loss, resp. the largest gradient component).
func TestGraphMatchesFused(t *testing.T) {
	const pairs, samples, steps = 6, 3, 3
	rng := rand.New(rand.NewPCG(12, 12))
	for _, c := range lossCases() {
		n := testNet(t, c.kind, 2, 23)
		gl, err := NewGraphLoss(n, pairs, samples, c.exact)
		if err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		graphGrad := make([]float64, len(n.Params))
		var worst float64
		for step := range steps {
			b := testBatch(rng, n, pairs, samples, c.exact)
			loss, grad := mustLossGrad(t, n, b)
			value, err := gl.LossGrad(b, n.Params, graphGrad)
			if err != nil {
				t.Fatalf("%v step %d: %v", c, step, err)
			}
			lossErr := math.Abs(value-loss.Value) / loss.Value
			gradErr := maxAbsDiff(graphGrad, grad) / maxAbs(grad)
			worst = max(worst, lossErr, gradErr)
			if lossErr > 1e-10 || gradErr > 1e-10 {
				t.Errorf("%v step %d: graph loss %.15g, fused %.15g; gradient relative difference %.3g", c, step, value, loss.Value, gradErr)
			}
			for i := range n.Params { // new parameters for the next step
				n.Params[i] += 0.05 * rng.NormFloat64()
			}
		}
		t.Logf("%v: worst relative difference %.2g", c, worst)
	}
}

func TestGraphBadInput(t *testing.T) {
	n := testNet(t, "jkonet-star", 2, 3)
	if _, err := NewGraphLoss(n, 0, 3, true); err == nil {
		t.Error("batch size 0 gave no error")
	}
	if _, err := NewGraphLoss(n, 4, 0, true); err == nil {
		t.Error("0 samples gave no error")
	}
	gl, err := NewGraphLoss(n, 4, 3, false)
	if err != nil {
		t.Fatal(err)
	}
	grad := make([]float64, len(n.Params))
	rng := rand.New(rand.NewPCG(1, 1))
	for _, b := range []*Batch{testBatch(rng, n, 5, 3, false), testBatch(rng, n, 4, 2, false), testBatch(rng, n, 4, 3, true)} {
		if _, err := gl.LossGrad(b, n.Params, grad); err == nil || !strings.Contains(err.Error(), "built for 4 pairs") {
			t.Errorf("batch of another shape: error %v", err)
		}
	}
	if _, err := gl.LossGrad(testBatch(rng, n, 4, 3, false), n.Params[1:], grad); err == nil {
		t.Error("short parameters gave no error")
	}
}
