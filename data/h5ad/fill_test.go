package h5ad

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/internal/fuzzcheck"
)

// TestFillValues (issue 19): chunks that were never written read as the
// dataset's fill value, as h5py reads them (testdata/make_fill.py records
// what h5py read in fill.json): a user-defined one in X and in the time
// column (before, they read 0, so cells of day 5 joined day 0), the
// default 0 in a layer.
func TestFillValues(t *testing.T) {
	raw, err := os.ReadFile("testdata/fill.json")
	if err != nil {
		t.Fatal(err)
	}
	var want struct{ X, Day, Zero []float64 }
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	set, err := Load("testdata/fill.h5ad", Options{TimeKey: "day"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(set.X, want.X) || !slices.Equal(set.T, want.Day) {
		t.Errorf("X %v\nwant %v\ntimes %v\nwant %v", set.X, want.X, set.T, want.Day)
	}
	set, err = Load("testdata/fill.h5ad", Options{TimeKey: "day", Layer: "zero"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(set.X, want.Zero) {
		t.Errorf("layer zero %v\nwant %v", set.X, want.Zero)
	}
}

// TestMemoryBounds (issue 19): files of a few kB that declare gigabytes are
// refused in one line naming the file and the field, before the memory is
// allocated (the allocation is measured).
func TestMemoryBounds(t *testing.T) {
	for _, c := range []struct{ file, want string }{
		{"huge_unwritten.h5ad", ": /X: shape [2000 1000] declares 16000000 bytes of which 16000000 were never written"},
		{"wide_csr.h5ad", ": /X: sparse matrix of shape (4, 1000000) is too large to densify from a 23768-byte file"},
	} {
		path := "testdata/" + c.file
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		var lerr error
		fuzzcheck.Alloc(t, st.Size(), fuzzcheck.PerByte, func() { _, lerr = Load(path, Options{TimeKey: "day"}) })
		if lerr == nil {
			t.Errorf("%s: read, want a refusal", c.file)
			continue
		}
		checkError(t, path, lerr)
		if !strings.Contains(lerr.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.file, lerr, c.want)
		}
	}
}

// TestHeapTotalBounded (issue 19): 2000 strings whose references each name
// a forged heap collection claiming about 100 kB of a 217 kB file (each
// read alone lies inside the file) are refused once the collections read
// add up to more than the file, before 200 MB are read.
func TestHeapTotalBounded(t *testing.T) {
	path := "testdata/many_heaps.h5ad"
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	var lerr error
	fuzzcheck.Alloc(t, st.Size(), fuzzcheck.PerByte, func() {
		_, lerr = Load(path, Options{TimeKey: "label", TimeOrder: []string{"x"}})
	})
	if lerr == nil || !strings.Contains(lerr.Error(), `obs column "label" (/obs/label): string 2: global heap collections of more than 217184 bytes in all`) {
		t.Fatalf("got %v", lerr)
	}
	checkError(t, path, lerr)
}
