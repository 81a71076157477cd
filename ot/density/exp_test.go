package density

import (
	"math"
	"testing"
)

// TestExpNonPositive: within 2 ulp of math.Exp on [−750, 0], exact at the
// special values.
func TestExpNonPositive(t *testing.T) {
	for i := 0; i <= 1_000_000; i++ {
		for _, x := range []float64{-750 * float64(i) / 1e6, -2 * float64(i) / 1e6} {
			got, want := expNonPositive(x), math.Exp(x)
			if want == 0 || got == want {
				if got != want {
					t.Fatalf("exp(%g) = %g, want %g", x, got, want)
				}
				continue
			}
			ulp := math.Nextafter(want, math.Inf(1)) - want
			if math.Abs(got-want) > 2*ulp {
				t.Fatalf("exp(%.17g) = %.17g, math.Exp %.17g: %.1f ulp", x, got, want, math.Abs(got-want)/ulp)
			}
		}
	}
	for _, x := range []float64{0, math.Copysign(0, -1), -1e-300, -745.1, math.Inf(-1)} {
		if got, want := expNonPositive(x), math.Exp(x); got != want {
			t.Errorf("exp(%g) = %g, want %g", x, got, want)
		}
	}
	if !math.IsNaN(expNonPositive(math.NaN())) {
		t.Error("exp(NaN) is not NaN")
	}
}
