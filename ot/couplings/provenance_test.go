package couplings

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/data/npz"
)

// TestProvenanceRoundTrip: Compute records the data's hash and the options
// (--exact-max auto as its value in d = 2), Save and Load keep them, and
// Mismatch names what differs.
func TestProvenanceRoundTrip(t *testing.T) {
	set := randomSet(3, 2, []float64{0, 1}, []int{12, 12})
	opts := DefaultOptions()
	opts.Components = 2
	c, _, err := Compute(set, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := &Provenance{Data: set.Hash(), Options: opts.Resolved(2)}
	if c.Provenance == nil || *c.Provenance != *want || want.Options.ExactMax != 50000 {
		t.Fatalf("provenance %+v, want %+v", c.Provenance, want)
	}
	path := filepath.Join(t.TempDir(), "c.npz")
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil || back.Provenance == nil || *back.Provenance != *want {
		t.Fatalf("loaded provenance %+v, %v", back.Provenance, err)
	}
	if err := back.Provenance.Mismatch(want); err != nil {
		t.Fatalf("same provenance: %v", err)
	}
	other := *want
	other.Options.Method, other.Options.Components = "sinkhorn", 4
	err = back.Provenance.Mismatch(&other)
	if err == nil || err.Error() != `computed with other options: components 2 (now 4), coupling "exact" (now "sinkhorn")` {
		t.Fatalf("options mismatch: %v", err)
	}
	other = *want
	other.Data = strings.Repeat("0", 64)
	if err := back.Provenance.Mismatch(&other); err == nil || !strings.HasPrefix(err.Error(), "computed from other data") {
		t.Fatalf("data mismatch: %v", err)
	}
}

// TestLoadRefusesBadProvenance: a provenance field that is not the JSON of
// a Provenance is refused, naming the field; no field at all is fine.
func TestLoadRefusesBadProvenance(t *testing.T) {
	set := randomSet(4, 2, []float64{0, 1}, []int{10, 10})
	c, _, err := Compute(set, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c.Provenance = nil
	plain := filepath.Join(dir, "plain.npz")
	if err := c.Save(plain); err != nil {
		t.Fatal(err)
	}
	if back, err := Load(plain); err != nil || back.Provenance != nil {
		t.Fatalf("no provenance: %+v, %v", back, err)
	}
	arch, err := npz.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	for name, value := range map[string]*npz.Array{
		"not json":      npz.FromBytes([]byte("{oops")),
		"unknown field": npz.FromBytes([]byte(`{"data_sha256": "` + strings.Repeat("a", 64) + `", "colour": 1}`)),
		"short hash":    npz.FromBytes([]byte(`{"data_sha256": "abc", "options": {}}`)),
		"floats":        npz.FromFloat64([]int{1}, []float64{1}),
	} {
		path := filepath.Join(dir, "bad.npz")
		if err := npz.WriteFile(path, append(arch[:len(arch):len(arch)], npz.Entry{Name: provenanceField, Array: value})); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), `field "provenance": expected the JSON bytes`) {
			t.Errorf("%s: error %v", name, err)
		}
	}
}
