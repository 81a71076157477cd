package models_test

import (
	"slices"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/models"
	"github.com/jkonet-gpu/jkonet-gpu/models/linear"
	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
)

// TestFamilyTable: the networks and the linear models register the kinds
// train has always offered, in the order its usage lists them, with the
// prediction scheme, β and dimension limit that predict, eval and train
// used to decide by comparing kind names.
func TestFamilyTable(t *testing.T) {
	want := append(networks.Kinds(), linear.Kind, linear.PotentialKind)
	if got := models.FamilyNames(); !slices.Equal(got, want) {
		t.Fatalf("FamilyNames() = %v, want %v", got, want)
	}
	for _, c := range []struct {
		name, scheme string
		beta, fit    bool
		maxDim       int
	}{
		{"jkonet-star", models.Implicit, true, false, 0},
		{"potential", models.Implicit, false, false, 0},
		{"potential-internal", models.Implicit, true, false, 0},
		{"potential-interaction", models.Implicit, false, false, 0},
		{"time-potential", models.Explicit, false, false, 0},
		{"linear", models.Explicit, true, true, 4},
		{"linear-potential", models.Explicit, false, true, 4},
	} {
		f, err := models.LookupFamily(c.name)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name != c.name || f.Scheme != c.scheme || f.LearnsBeta != c.beta || (f.Fit != nil) != c.fit || f.MaxDim != c.maxDim {
			t.Errorf("%s: scheme %s, learns β %v, closed form %v, max d %d; want %s, %v, %v, %d",
				c.name, f.Scheme, f.LearnsBeta, f.Fit != nil, f.MaxDim, c.scheme, c.beta, c.fit, c.maxDim)
		}
	}
	const msg = `unknown model "magic" (expected one of: jkonet-star, potential, potential-internal, potential-interaction, time-potential, linear, linear-potential)`
	if _, err := models.LookupFamily("magic"); err == nil || err.Error() != msg {
		t.Fatalf("LookupFamily(magic): %v, want %q", err, msg)
	}
}

// TestFamilyNewMatchesLayout: every family rebuilds a model from a buffer
// as long as its layout says, in the dimension asked, and refuses one
// parameter more.
func TestFamilyNewMatchesLayout(t *testing.T) {
	for _, name := range models.FamilyNames() {
		f, _ := models.LookupFamily(name)
		lay, err := f.Layout(2)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, p := range lay {
			n = max(n, p.Offset+p.Size())
		}
		m, err := f.New(2, make([]float64, n))
		if err != nil || m.Dim() != 2 {
			t.Errorf("%s: New(2, %d parameters): %v", name, n, err)
		}
		if _, err := f.New(2, make([]float64, n+1)); err == nil {
			t.Errorf("%s: New(2, %d parameters) accepted one too many", name, n+1)
		}
	}
}

// TestRegisterFamilyRefusesDuplicates: a name registers once.
func TestRegisterFamilyRefusesDuplicates(t *testing.T) {
	f, _ := models.LookupFamily("potential")
	defer func() {
		if recover() == nil {
			t.Fatal("a second family named potential was registered")
		}
	}()
	models.RegisterFamily(f)
}
