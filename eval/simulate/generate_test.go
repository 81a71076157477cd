package simulate

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestGenerate: the snapshots carry dt and the spec, with one folded
// fraction per step, as their meta JSON; a bad spec names its field.
func TestGenerate(t *testing.T) {
	spec := Spec{Potential: "styblinski_tang", Beta: 0.1, Seed: 3, Dim: 2, Particles: 20, Steps: 3, DT: 0.001}
	set, warning, err := Generate(spec, true)
	if err != nil || warning != "" {
		t.Fatalf("%v, warning %q", err, warning)
	}
	var meta Spec
	if err := json.Unmarshal(set.Meta, &meta); err != nil {
		t.Fatal(err)
	}
	if len(meta.Folded) != spec.Steps || len(set.Times()) != spec.Steps+1 || set.DT != spec.DT || set.D != 2 {
		t.Fatalf("set: times %v, dt %v, meta %s", set.Times(), set.DT, set.Meta)
	}
	meta.Folded = nil
	if meta.Potential != spec.Potential || meta.Seed != spec.Seed || meta.Particles != spec.Particles {
		t.Fatalf("meta %+v, want %+v", meta, spec)
	}
	for field, edit := range map[string]func(*Spec){
		"potential: ":   func(s *Spec) { s.Potential = "no-such" },
		"interaction: ": func(s *Spec) { s.Interaction = "no-such" },
		"particles: ":   func(s *Spec) { s.Particles = 1 },
	} {
		bad := spec
		edit(&bad)
		if _, _, err := Generate(bad, true); err == nil || !strings.HasPrefix(err.Error(), field) {
			t.Errorf("want an error starting %q, got %v", field, err)
		}
	}
}
