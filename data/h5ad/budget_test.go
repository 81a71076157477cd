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

// TestHeapCollectionsWithinBudget (issue 19): the global heap collections
// that variable-length strings point into are counted against the memory
// budget before they are read, as datasets are (before, only their total
// against the file's size bounded them, so a large file could make the
// reader allocate all of it). In many_heaps.h5ad the first string's forged
// collection claims 100 kB: under a budget of 90 kB it is refused, naming
// the dataset, the string and the collection.
func TestHeapCollectionsWithinBudget(t *testing.T) {
	t.Cleanup(func() { membudget.Set(0) })
	const path = "testdata/many_heaps.h5ad"
	membudget.Set(90_000)
	_, err := Load(path, Options{TimeKey: "label", TimeOrder: []string{"x"}})
	want := path + `: obs column "label" (/obs/label): string 0: global heap collection at address 19648 of 100000 bytes: needs 164 kB of memory, more than the budget of 90 kB (set by --max-memory)`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

// TestMessagesNameDatasetPaths (issue 19): a refusal names the dataset at
// fault by its full path in the file, /X/data or /obs/stage/codes, not by
// the key it was reached through ("X: data:"). Each budget stops the read
// at another dataset of the fixture (the reader counts the time column's
// datasets, then the matrix's, in order).
func TestMessagesNameDatasetPaths(t *testing.T) {
	t.Cleanup(func() { membudget.Set(0) })
	const tail = " (set by --max-memory)"
	for _, c := range []struct {
		file   string
		key    string
		budget int64
		want   string
	}{
		{"dense.h5ad", "stage", 4000, `obs column "stage" (/obs/stage): attribute "encoding-type": string 0: global heap collection at address 2048 of 4096 bytes: needs 4.1 kB of memory, more than the budget of 4 kB`},
		{"dense.h5ad", "stage", 4100, `obs column "stage" (/obs/stage/codes): shape [30] of 30 bytes: needs 4.13 kB of memory, more than the budget of 4.1 kB`},
		{"dense.h5ad", "stage", 4400, `obs column "stage" (/obs/stage/categories): shape [3] of 48 bytes: needs 4.41 kB of memory, more than the budget of 4.4 kB`},
		{"dense.h5ad", "stage", 4500, `/X: shape [30 4] of 480 bytes: needs 4.94 kB of memory, more than the budget of 4.5 kB`},
		{"v07.h5ad", "stage", 1, `obs column "stage" (/obs/stage): shape [30] of 30 bytes: needs 30 B of memory, more than the budget of 1 B`},
		{"nullable.h5ad", "day_int", 4100, `obs column "day_int" (/obs/day_int/values): shape [30] of 240 bytes: needs 4.34 kB of memory, more than the budget of 4.1 kB`},
		{"nullable.h5ad", "day_int", 4600, `obs column "day_int" (/obs/day_int/mask): shape [30] of 30 bytes: needs 4.61 kB of memory, more than the budget of 4.6 kB`},
		{"csr_gzip.h5ad", "stage", 5000, `/X: sparse matrix of shape (30, 4) densified: needs 5.54 kB of memory, more than the budget of 5 kB`},
		{"csr_gzip.h5ad", "stage", 6000, `/X/data: decoding chunks of 608 bytes: needs 6.15 kB of memory, more than the budget of 6 kB`},
		{"csr_gzip.h5ad", "stage", 7000, `/X/data: chunk at address 8944 of 489 bytes: needs 7.25 kB of memory, more than the budget of 7 kB`},
		{"csr_gzip.h5ad", "stage", 9000, `/X/indices: shape [76] as int64: needs 9.13 kB of memory, more than the budget of 9 kB`},
		{"csc.h5ad", "stage", 7000, `/X/indices: decoding chunks of 304 bytes: needs 7.25 kB of memory, more than the budget of 7 kB`},
	} {
		path := "testdata/" + c.file
		membudget.Set(c.budget)
		_, err := Load(path, Options{TimeKey: c.key})
		if want := path + ": " + c.want + tail; err == nil || err.Error() != want {
			t.Errorf("%s, budget %d:\ngot  %v\nwant %s", c.file, c.budget, err, want)
		}
	}
}
