package h5ad

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/internal/fuzzcheck"
)

// allocPerByte is what Load may allocate per byte of file: the chunked data
// it decodes (at most decodedPerStoredByte per byte in all, see spend), held
// as bytes and widened to float64 (up to 8 bytes per byte), plus the
// densified sparse matrix (256 values per byte).
const allocPerByte = 16 * decodedPerStoredByte

// FuzzLoad feeds mutated AnnData files to Load: every result is a valid set
// or a one-line error naming the file, no panic escapes or comes from this
// package, and memory stays within a bound set by the file's size, not by
// sizes the file claims.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"dense.h5ad", "csr_gzip.h5ad", "csc.h5ad", "v07.h5ad", "latest.h5ad", "nullable.h5ad", "not_anndata.h5ad"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "stage")
	}
	// Issue 19: unwritten chunks with fill values, declared sizes far
	// beyond the data, heaps, soft and external links, int64 labels beyond
	// 2^53, 0 cells.
	for _, name := range []string{"fill.h5ad", "huge_unwritten.h5ad", "wide_csr.h5ad", "many_heaps.h5ad", "links.h5ad", "big_labels.h5ad", "zero_cells.h5ad"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "day")
	}
	f.Add([]byte(hdf5Signature), "day")
	path := filepath.Join(fuzzcheck.Dir(f), "fuzz.h5ad")
	f.Fuzz(func(t *testing.T, data []byte, key string) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var set *snapshot.Set
		var err error
		fuzzcheck.Alloc(t, int64(len(data)), allocPerByte, func() { set, err = Load(path, Options{TimeKey: key}) })
		if err != nil {
			checkError(t, path, err)
			return
		}
		if err := set.Validate(); err != nil {
			t.Errorf("Load returned an invalid set: %v", err)
		}
	})
}
