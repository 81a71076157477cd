package couplings

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/internal/fuzzcheck"
)

// FuzzLoad runs its seeds (f.Add below: files Save writes; and
// testdata/fuzz/FuzzLoad: the same and hand-made malformed ones) under plain
// go test; scripts/fuzz.sh fuzzes it. Every file must load or give an
// error, never a panic, and
//
//   - an error is one line that starts with the path and names the field,
//     array or pair at fault (or says the file is not an NPZ archive);
//   - Load allocates at most fuzzcheck.Limit(n, fuzzcheck.PerByte) bytes for n bytes of input (a
//     deflated entry counted at its inflated size), so a size field believed
//     before it is checked against the bytes present shows up;
//   - couplings loaded are consistent (at least one pair, matching lengths,
//     transitions in range, positive w and tau, finite values, increasing
//     times) and save and load back the same.

// checkCouplings checks the invariants of couplings Load accepted.
func checkCouplings(t *testing.T, c *Couplings) {
	t.Helper()
	k, d := c.Len(), c.D
	if k < 1 || d < 1 || len(c.X) != k*d || len(c.Y) != k*d || len(c.Score) != k*d || len(c.K) != k || len(c.Tau) != k || len(c.Times) < 2 {
		t.Fatalf("inconsistent couplings: %d pairs in d = %d, lengths x %d y %d score %d k %d tau %d times %d",
			k, d, len(c.X), len(c.Y), len(c.Score), len(c.K), len(c.Tau), len(c.Times))
	}
	for _, vs := range [][]float64{c.X, c.Y, c.W, c.Tau, c.Score, c.Times} {
		for _, v := range vs {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("loaded a non-finite value %v", v)
			}
		}
	}
	for i := 1; i < len(c.Times); i++ {
		if !(c.Times[i] > c.Times[i-1]) {
			t.Fatalf("times %v not increasing", c.Times)
		}
	}
	for p := range k {
		if c.K[p] < 0 || c.K[p] >= int64(len(c.Times)-1) || !(c.W[p] > 0) || !(c.Tau[p] > 0) {
			t.Fatalf("pair %d: transition %d of %d, w %v, tau %v", p, c.K[p], len(c.Times)-1, c.W[p], c.Tau[p])
		}
	}
}

func FuzzLoad(f *testing.F) {
	dir := fuzzcheck.Dir(f)
	for i, counts := range [][]int{{3, 3}, {2, 3, 2}} {
		times := []float64{0, 1, 2.5}[:len(counts)]
		opts := DefaultOptions()
		opts.Components = 1
		c, _, err := Compute(randomSet(uint64(i), 2, times, counts), opts)
		if err != nil {
			f.Fatal(err)
		}
		path := filepath.Join(dir, "seed.npz")
		if err := c.Save(path); err != nil {
			f.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	path := filepath.Join(dir, "couplings.npz")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var c *Couplings
		var err error
		fuzzcheck.Alloc(t, fuzzcheck.InflatedSize(data), fuzzcheck.PerByte, func() { c, err = Load(path) })
		if err != nil {
			fuzzcheck.Error(t, err, path, `field "`, `array "`, "pair ", "not an NPZ archive")
			return
		}
		checkCouplings(t, c)
		saved := filepath.Join(dir, "saved.npz")
		if err := c.Save(saved); err != nil {
			t.Fatalf("saving what was loaded: %v", err)
		}
		back, err := Load(saved)
		if err != nil {
			t.Fatalf("loading what was saved: %v", err)
		}
		if !reflect.DeepEqual(back, c) {
			t.Errorf("saved and loaded %+v, want %+v", back, c)
		}
	})
}
