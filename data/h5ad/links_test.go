package h5ad

import (
	"slices"
	"strings"
	"testing"
)

// TestSoftAndExternalLinks (issue 19; testdata/make_links.py): one
// harmless soft link anywhere made the file unreadable ("address
// 18446744073709551615 … beyond the end of the file"); soft links now
// resolve as h5py resolves them (obs/when reads obs/day, obsm/X_alias
// reads X_pca), a dangling one or a cycle is named, and an external link is
// refused by name instead of "no key (present: …)".
func TestSoftAndExternalLinks(t *testing.T) {
	const path = "testdata/links.h5ad"
	want, err := Load(path, Options{TimeKey: "day", Obsm: "X_pca"})
	if err != nil {
		t.Fatalf("a file with soft links: %v", err)
	}
	got, err := Load(path, Options{TimeKey: "when", Obsm: "X_alias"})
	if err != nil {
		t.Fatalf("through the soft links: %v", err)
	}
	if !slices.Equal(got.X, want.X) || !slices.Equal(got.T, want.T) || len(got.X) != 16 || got.X[0] != 2 {
		t.Errorf("through the soft links: X %v T %v, want X %v T %v", got.X, got.T, want.X, want.T)
	}
	for key, msg := range map[string]string{
		"X_dangling": "X_dangling is a soft link to /nowhere, which leads nowhere (missing or a cycle)",
		"X_loop_a":   "X_loop_a is a soft link to /obsm/X_loop_b, which leads nowhere (missing or a cycle)",
		"X_ext":      "X_ext is an external link to other.h5ad:/X, which is not followed",
	} {
		_, err := Load(path, Options{TimeKey: "day", Obsm: key})
		if err == nil {
			t.Errorf("obsm %s: read", key)
			continue
		}
		checkError(t, path, err)
		if !strings.Contains(err.Error(), `/obsm has no key "`+key+`"`) || !strings.Contains(err.Error(), msg) {
			t.Errorf("obsm %s: %v\nwant %q", key, err, msg)
		}
	}
}

// TestIntegerLabelsBeyondFloat64 (issue 19): int64 time labels 2^53 and
// 2^53+1 were read as one time (one snapshot, or two days merged); a label
// float64 cannot hold exactly is refused, naming the value.
func TestIntegerLabelsBeyondFloat64(t *testing.T) {
	const path = "testdata/big_labels.h5ad"
	_, err := Load(path, Options{TimeKey: "day"})
	if err == nil || err.Error() != path+`: obs column "day" (/obs/day): integer 9007199254740993 at index 1 is beyond 2^53, where float64 cannot tell integers apart (it reads as 9007199254740992)` {
		t.Fatalf("got %v", err)
	}
}

// TestZeroCells (issue 19): a file of 0 cells said "holds strings ()";
// it says it holds no cells.
func TestZeroCells(t *testing.T) {
	const path = "testdata/zero_cells.h5ad"
	_, err := Load(path, Options{TimeKey: "day"})
	if err == nil || err.Error() != path+`: obs column "day" (/obs/day): has 0 rows: the file holds no cells` {
		t.Fatalf("got %v", err)
	}
}
