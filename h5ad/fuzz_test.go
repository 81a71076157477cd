package h5ad

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// allocLimit is what Load may allocate for a file of n bytes: the decoded
// data of filtered chunks (up to decodedPerStoredByte per stored byte),
// their conversion to float64 and the densified matrix, plus the library's
// fixed costs.
func allocLimit(n int64) uint64 {
	return uint64(16*decodedPerStoredByte*n + 256<<20)
}

// FuzzLoad feeds mutated AnnData files to Load: every result is a valid set
// or a one-line error naming the file; no panic escapes, and memory stays
// within a bound set by the file's size, not by sizes the file claims.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"dense.h5ad", "csr_gzip.h5ad", "csc.h5ad", "v07.h5ad", "latest.h5ad", "nullable.h5ad", "not_anndata.h5ad"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "stage")
	}
	f.Add([]byte(hdf5Signature), "day")
	path := filepath.Join(f.TempDir(), "fuzz.h5ad")
	f.Fuzz(func(t *testing.T, data []byte, key string) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		set, err := Load(path, Options{TimeKey: key})
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; got > allocLimit(int64(len(data))) {
			t.Errorf("loading %d bytes allocated %d bytes", len(data), got)
		}
		if err != nil {
			checkError(t, path, err)
			return
		}
		if err := set.Validate(); err != nil {
			t.Errorf("Load returned an invalid set: %v", err)
		}
	})
}
