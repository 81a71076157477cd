package bench

import "testing"

const maxAllocBytesPerStep = 64

// TestCompareTrainingStepTorch runs a tiny training-step case against the
// PyTorch peer: the first-step losses and gradients must agree to
// StepTolerance, and the Go steps must allocate no per-step buffers (the
// cpu backend's 16-byte PCG source of the interaction samples escapes to the
// heap each step today; maxAllocBytesPerStep leaves room for a few such
// objects).
func TestCompareTrainingStepTorch(t *testing.T) {
	if err := PeerAvailable("torch"); err != nil {
		t.Skip(err)
	}
	cases := []StepCase{{Pairs: 30, D: 3, Samples: 4, Steps: 3, Seed: 2}}
	results, err := CompareTrainingStep(cases, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		t.Log(r)
		if !r.Agree() {
			t.Errorf("%s: loss go %.17g, torch %.17g (relative difference %.2g); gradient relative difference %.2g",
				r.Case.Name(), r.GoLoss, r.TorchLoss, r.RelLossDiff, r.RelGradDiff)
		}
		if r.AllocBytesPerStep > maxAllocBytesPerStep {
			t.Errorf("%s: the Go steps allocate %.0f bytes each (%.1f objects), want at most %d bytes", r.Case.Name(), r.AllocBytesPerStep, r.AllocsPerStep, maxAllocBytesPerStep)
		}
	}
}

// BenchmarkCompareTrainingStep prints the side-by-side table of the default
// cases (go test -run '^$' -bench CompareTrainingStep -benchtime 1x
// -timeout 0 ./bench/).
func BenchmarkCompareTrainingStep(b *testing.B) {
	if err := PeerAvailable("torch"); err != nil {
		b.Skip(err)
	}
	for range b.N {
		results, err := CompareTrainingStep(DefaultStepCases(), 3)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range results {
			b.Log(r)
		}
	}
}
