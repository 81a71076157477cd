package snapshot

import (
	"strings"
	"testing"
)

// TestValidateRefusesTimeRangeOverflow: labels ±1e308 are finite, but the
// differences every consumer takes (τ, the mean interval) are not.
func TestValidateRefusesTimeRangeOverflow(t *testing.T) {
	s := &Set{X: []float64{0, 1, 2, 3}, D: 2, T: []float64{-1e308, 1e308}}
	err := s.Validate()
	if err == nil || !strings.Contains(err.Error(), `field "t"`) || !strings.Contains(err.Error(), "range") {
		t.Fatalf("Validate: %v, want a field \"t\" range error", err)
	}
	s.T = []float64{-1e307, 1e307}
	if err := s.Validate(); err != nil {
		t.Fatalf("Validate of a finite range: %v", err)
	}
}
