package couplings

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// obtainFixture is a small set, options that compute it fast, and a
// request for a cache file in a temporary folder.
func obtainFixture(t *testing.T) (*Request, *strings.Builder) {
	t.Helper()
	opts := DefaultOptions()
	opts.Components = 2
	warn := &strings.Builder{}
	return &Request{Data: "data.npz", File: filepath.Join(t.TempDir(), "c.npz"), Options: opts, Quiet: true, Warnings: warn}, warn
}

// TestLoadOrComputeCaches: without the file the couplings are computed and
// written; with it they are read back, not recomputed (a marked weight
// survives); a follower rank computes but does not write.
func TestLoadOrComputeCaches(t *testing.T) {
	set := randomSet(5, 2, []float64{0, 1, 2}, []int{10, 12, 11})
	r, warn := obtainFixture(t)
	follower := *r
	follower.Follower = true
	if _, err := LoadOrCompute(set, follower); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(r.File); !os.IsNotExist(err) {
		t.Fatalf("a follower rank wrote the cache: %v", err)
	}
	first, err := LoadOrCompute(set, *r)
	if err != nil {
		t.Fatal(err)
	}
	cached, err := Load(r.File)
	if err != nil || cached.Len() != first.Len() || *cached.Provenance != (Provenance{Data: set.Hash(), Options: r.Options.Resolved(set.D)}) {
		t.Fatalf("cache: %+v, %v", cached, err)
	}
	cached.W[0] = 0.125 // a mark that recomputing would not reproduce
	if err := cached.Save(r.File); err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCompute(set, *r)
	if err != nil || again.W[0] != 0.125 {
		t.Fatalf("cache hit: w[0] = %v, %v; want the cached file's 0.125", again.W[0], err)
	}
	if warn.Len() != 0 {
		t.Fatalf("unexpected warnings: %q", warn.String())
	}
}

// TestLoadOrComputeRefusesStaleCache: a cache from other options or other
// data is refused with one line that names what differs; one in another
// dimension with the plainer message.
func TestLoadOrComputeRefusesStaleCache(t *testing.T) {
	set := randomSet(5, 2, []float64{0, 1}, []int{10, 12})
	r, _ := obtainFixture(t)
	if _, err := LoadOrCompute(set, *r); err != nil {
		t.Fatal(err)
	}
	other := *r
	other.Options.Components = 3
	_, err := LoadOrCompute(set, other)
	want := r.File + ": computed with other options: components 2 (now 3), not from data.npz with these flags; delete it or name another --couplings file"
	if err == nil || err.Error() != want {
		t.Fatalf("other options: %v\nwant %s", err, want)
	}
	_, err = LoadOrCompute(randomSet(6, 2, []float64{0, 1}, []int{10, 12}), *r)
	if err == nil || !strings.HasPrefix(err.Error(), r.File+": computed from other data (sha256 ") || !strings.HasSuffix(err.Error(), "…), not from data.npz with these flags; delete it or name another --couplings file") {
		t.Fatalf("other data: %v", err)
	}
	_, err = LoadOrCompute(randomSet(5, 3, []float64{0, 1}, []int{10, 12}), *r)
	if want := r.File + ": couplings in d = 2, but data.npz has d = 3"; err == nil || err.Error() != want {
		t.Fatalf("other d: %v\nwant %s", err, want)
	}
}

// TestLoadOrComputeWithoutProvenance: another tool's file, without a
// provenance record, is used as it is, with a warning.
func TestLoadOrComputeWithoutProvenance(t *testing.T) {
	set := randomSet(5, 2, []float64{0, 1}, []int{10, 12})
	r, warn := obtainFixture(t)
	cp, _, err := Compute(set, r.Options)
	if err != nil {
		t.Fatal(err)
	}
	cp.Provenance = nil
	cp.W[0] = 0.25
	if err := cp.Save(r.File); err != nil {
		t.Fatal(err)
	}
	r.Options.Components = 7 // not checked: nothing is recorded
	got, err := LoadOrCompute(set, *r)
	if err != nil || got.W[0] != 0.25 || got.Provenance != nil {
		t.Fatalf("without provenance: %+v, %v", got, err)
	}
	want := "warning: " + r.File + " records no provenance; cannot check that it was computed from data.npz with these options\n"
	if warn.String() != want {
		t.Fatalf("warnings %q, want %q", warn.String(), want)
	}
}

// TestLoadOrComputeErrors: a computing error names the data and leaves no
// cache; an unreadable cache is an error, not a reason to recompute.
func TestLoadOrComputeErrors(t *testing.T) {
	r, _ := obtainFixture(t)
	_, err := LoadOrCompute(randomSet(5, 2, []float64{0}, []int{10}), *r)
	if want := "data.npz: need at least 2 snapshot times to couple, got 1"; err == nil || err.Error() != want {
		t.Fatalf("one snapshot: %v, want %s", err, want)
	}
	if _, err := os.Stat(r.File); !os.IsNotExist(err) {
		t.Fatalf("a failed computation wrote the cache: %v", err)
	}
	if err := os.WriteFile(r.File, []byte("not an npz"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCompute(randomSet(5, 2, []float64{0, 1}, []int{10, 12}), *r); err == nil {
		t.Fatal("an unreadable cache was accepted")
	}
}

// TestReportWarn: the lines that tell what would go unseen, and none for a
// report without anything to tell.
func TestReportWarn(t *testing.T) {
	no := false
	rep := &Report{
		Transitions: []TransitionReport{
			{From: 0, To: 1, N: 20000, M: 15000, Blocks: 2, Block: 10000, Automatic: true},
			{From: 1, To: 2, N: 5, M: 5},
			{From: 2, To: 3, N: 5, M: 5, Converged: &no, Iterations: 1000, MarginalError: 0.0123},
		},
		Snapshots: []SnapshotReport{{Time: 1}, {Time: 2, Note: "one point; score 0"}},
	}
	var w strings.Builder
	rep.Warn(&w)
	want := "note: exact OT above --exact-max points a snapshot is solved in spatial blocks (README \"Scale\"): t=0 → t=1: 20000 × 15000 points in 2 blocks of ≤ 10000\n" +
		"warning: sinkhorn t=2 → t=3 did not converge in 1000 iterations (marginal error 0.012); raise --sinkhorn-max-iter or --epsilon\n" +
		"warning: density t=2: one point; score 0\n"
	if w.String() != want {
		t.Fatalf("warnings:\n%s\nwant:\n%s", w.String(), want)
	}
	w.Reset()
	(&Report{Transitions: rep.Transitions[1:2], Snapshots: rep.Snapshots[:1]}).Warn(&w)
	if w.Len() != 0 {
		t.Fatalf("nothing to tell, got %q", w.String())
	}
}
