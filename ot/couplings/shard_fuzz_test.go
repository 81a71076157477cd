package couplings

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/internal/fuzzcheck"
)

// FuzzLoadShard runs its seeds (shard files SaveShard writes) under plain go
// test; scripts/fuzz.sh fuzzes it. As for FuzzLoad: no panic, an error is
// one line starting with the path and naming the field, array or pair at
// fault, allocation bounded by the input's size; a shard loaded has a valid
// shard record, a provenance and consistent couplings, and saves and loads
// back the same.
func FuzzLoadShard(f *testing.F) {
	dir := fuzzcheck.Dir(f)
	opts := DefaultOptions()
	opts.Components = 1
	set := randomSet(5, 2, []float64{0, 1, 2.5}, []int{3, 2, 3})
	for i := range 2 {
		c, _, err := ComputeShard(set, opts, Shard{i, 2})
		if err != nil {
			f.Fatal(err)
		}
		path := filepath.Join(dir, "seed.npz")
		if err := c.SaveShard(path, Shard{i, 2}); err != nil {
			f.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	path := filepath.Join(dir, "shard.npz")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var p *Part
		var err error
		fuzzcheck.Alloc(t, fuzzcheck.InflatedSize(data), fuzzcheck.PerByte, func() { p, err = LoadShard(path) })
		if err != nil {
			fuzzcheck.Error(t, err, path, `field "`, `array "`, "pair ", "not an NPZ archive")
			return
		}
		if p.Shard.Count < 1 || p.Shard.Index < 0 || p.Shard.Index >= p.Shard.Count || p.Provenance == nil {
			t.Fatalf("loaded shard %v, provenance %v", p.Shard, p.Provenance)
		}
		checkCouplings(t, p.Couplings)
		saved := filepath.Join(dir, "saved.npz")
		if err := p.SaveShard(saved, p.Shard); err != nil {
			t.Fatalf("saving what was loaded: %v", err)
		}
		back, err := LoadShard(saved)
		if err != nil {
			t.Fatalf("loading what was saved: %v", err)
		}
		back.Path = p.Path
		if !reflect.DeepEqual(back, p) {
			t.Errorf("saved and loaded %+v, want %+v", back, p)
		}
	})
}
