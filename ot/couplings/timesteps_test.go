package couplings

import (
	"math"
	"strings"
	"testing"
)

// TestTimeStepsNearOverflow: labels 0, 1e308, 1.5e308 are a valid set (their
// range is finite), but (t₁ − t₀)·n overflows; τ must still be 4/3 and 2/3,
// never +Inf, in TimeSteps and in the computed couplings.
func TestTimeStepsNearOverflow(t *testing.T) {
	times := []float64{0, 1e308, 1.5e308}
	want := []float64{4.0 / 3, 2.0 / 3}
	got := TimeSteps(times)
	for k := range want {
		if math.Abs(got[k]-want[k]) > 1e-15 {
			t.Fatalf("τ = %v, want %v", got, want)
		}
	}
	set := randomSet(1, 2, times, []int{4, 4, 4})
	if err := set.Validate(); err != nil {
		t.Fatal(err)
	}
	c, _, err := Compute(set, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for p, tau := range c.Tau {
		if math.IsInf(tau, 0) || math.IsNaN(tau) || !(tau > 0) {
			t.Fatalf("pair %d: τ = %v", p, tau)
		}
	}
}

// TestComputeRefusesDegenerateTimeSteps: a step that underflows to 0 against
// the others (1e-200 beside 1e200) cannot be trained on; Compute says so
// instead of writing τ = 0.
func TestComputeRefusesDegenerateTimeSteps(t *testing.T) {
	set := randomSet(1, 2, []float64{0, 1e-200, 1e200}, []int{4, 4, 4})
	_, _, err := Compute(set, DefaultOptions())
	if err == nil || !strings.Contains(err.Error(), "time step") {
		t.Fatalf("Compute: %v, want a time step error", err)
	}
}
