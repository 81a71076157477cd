package h5ad

import (
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/internal/membudget"
)

// TestMemoryBudget (issue 19): what the reader allocates for what a file
// declares (a CSR matrix densified, chunks decoded, unwritten chunks
// filled, contiguous data, the float64 values they become) is counted
// against the memory budget (--max-memory) before it is allocated. A
// budget one byte short of the matrix read is refused in one line naming
// the file, the dataset and the budget; four times the matrix reads it.
func TestMemoryBudget(t *testing.T) {
	t.Cleanup(func() { membudget.Set(0) })
	for _, c := range []struct {
		file string
		opts Options
	}{
		{"csr_gzip.h5ad", Options{TimeKey: "stage"}}, // X: CSR, chunked and deflated
		{"csc.h5ad", Options{TimeKey: "stage"}},      // X: CSC
		{"fill.h5ad", Options{TimeKey: "day"}},       // X: chunks never written
		{"dense.h5ad", Options{TimeKey: "stage"}},    // X: dense
		{"dense.h5ad", Options{TimeKey: "hours", Obsm: "X_pca"}},
	} {
		path := "testdata/" + c.file
		membudget.Set(0)
		set, err := Load(path, c.opts)
		if err != nil {
			t.Fatal(err)
		}
		size := int64(8 * len(set.X))
		membudget.Set(size - 1)
		_, err = Load(path, c.opts)
		if err == nil {
			t.Errorf("%s %+v: read %d bytes of matrix under a budget of %d", c.file, c.opts, size, size-1)
			continue
		}
		checkError(t, path, err)
		if msg := err.Error(); !strings.Contains(msg, "of memory, more than the budget of") || !strings.Contains(msg, "set by --max-memory") {
			t.Errorf("%s: %v, want the budget named", c.file, err)
		}
		membudget.Set(4*size + 1<<16)
		if _, err := Load(path, c.opts); err != nil {
			t.Errorf("%s %+v: a budget of 4× the matrix: %v", c.file, c.opts, err)
		}
	}
}
