package snapshot

import (
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// gridSet returns n trajectories observed at each of the given times, rows
// ordered by time then id. Row i has x = (i, id) so that rows can be traced
// through a split.
func gridSet(n int, times ...float64) *Set {
	s := &Set{D: 2, DT: 0.01, Meta: []byte(`{"seed": 1}`)}
	for _, t := range times {
		for id := range n {
			s.X = append(s.X, float64(len(s.T)), float64(id))
			s.T = append(s.T, t)
			s.ID = append(s.ID, int64(100+id))
		}
	}
	return s
}

// origin returns the original row index of each row of a split output.
func origin(s *Set) []int {
	rows := make([]int, s.Len())
	for i := range rows {
		rows[i] = int(s.Row(i)[0])
	}
	return rows
}

// checkPartition fails unless train and test hold disjoint original rows,
// each in ascending order, whose union is exactly want (nil: every row of
// the source), with t and id carried along and DT, Meta kept.
func checkPartition(t *testing.T, src, train, test *Set, want []int) {
	t.Helper()
	seen := map[int]bool{}
	for _, part := range []*Set{train, test} {
		rows := origin(part)
		if !slices.IsSorted(rows) {
			t.Errorf("rows not in original order: %v", rows)
		}
		for i, r := range rows {
			if seen[r] {
				t.Fatalf("row %d is in both sides", r)
			}
			seen[r] = true
			if part.T[i] != src.T[r] || (src.ID != nil && part.ID[i] != src.ID[r]) || !slices.Equal(part.Row(i), src.Row(r)) {
				t.Fatalf("row %d was not copied intact", r)
			}
		}
		if part.DT != src.DT || string(part.Meta) != string(src.Meta) {
			t.Errorf("DT %v meta %s not carried over", part.DT, part.Meta)
		}
	}
	if want == nil {
		for r := range src.Len() {
			want = append(want, r)
		}
	}
	for _, r := range want {
		if !seen[r] {
			t.Fatalf("row %d is in neither side", r)
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("split holds %d rows, want %d", len(seen), len(want))
	}
}

// idsAt returns, per time label, the set of ids present.
func idsAt(s *Set) map[float64]map[int64]bool {
	out := map[float64]map[int64]bool{}
	for i, id := range s.ID {
		if out[s.T[i]] == nil {
			out[s.T[i]] = map[int64]bool{}
		}
		out[s.T[i]][id] = true
	}
	return out
}

func countsPerTime(s *Set) []int { return s.Info().Counts }

func TestSplitByTrajectory(t *testing.T) {
	src := gridSet(20, 0, 1, 2, 3, 4)
	train, test, err := Split(src, ByTrajectory, 0.3, 7)
	if err != nil {
		t.Fatal(err)
	}
	checkPartition(t, src, train, test, nil)
	for name, part := range map[string]*Set{"train": train, "test": test} {
		want := map[string]int{"train": 14, "test": 6}[name]
		perTime := idsAt(part)
		if len(perTime) != 5 {
			t.Fatalf("%s covers %d times, want 5", name, len(perTime))
		}
		for tm, ids := range perTime {
			if len(ids) != want || !reflect.DeepEqual(ids, perTime[0]) {
				t.Errorf("%s at t=%v holds ids %v, want the same %d ids as at t=0", name, tm, ids, want)
			}
		}
	}
	for id := range idsAt(test)[0] {
		if idsAt(train)[0][id] {
			t.Errorf("id %d is in train and test", id)
		}
	}
}

func TestSplitByPopulation(t *testing.T) {
	src := gridSet(9, 2, 0, 1) // times out of order on purpose
	src.ID = nil               // ids are not needed
	train, test, err := Split(src, ByPopulation, 0.25, 3)
	if err != nil {
		t.Fatal(err)
	}
	checkPartition(t, src, train, test, nil)
	// round(0.25 × 9) = 2 test rows per snapshot.
	if got := countsPerTime(test); !slices.Equal(got, []int{2, 2, 2}) {
		t.Errorf("test rows per time %v, want [2 2 2]", got)
	}
	if got := countsPerTime(train); !slices.Equal(got, []int{7, 7, 7}) {
		t.Errorf("train rows per time %v, want [7 7 7]", got)
	}
	// Independent draws per snapshot: the test ids differ between times.
	src.ID = gridSet(9, 2, 0, 1).ID
	_, test, _ = Split(src, ByPopulation, 0.5, 3)
	perTime := idsAt(test)
	if reflect.DeepEqual(perTime[0], perTime[1]) && reflect.DeepEqual(perTime[1], perTime[2]) {
		t.Error("population split drew the same particles at every time")
	}
}

func TestSplitIndependent(t *testing.T) {
	src := gridSet(60, 0, 1, 2, 3)
	train, test, err := Split(src, ByIndependent, 0.5, 11)
	if err != nil {
		t.Fatal(err)
	}
	seenID := map[int64]bool{}
	var kept []int
	for _, part := range []*Set{train, test} {
		for i, id := range part.ID {
			if seenID[id] {
				t.Fatalf("id %d occurs twice", id)
			}
			seenID[id] = true
			kept = append(kept, origin(part)[i])
		}
	}
	if len(seenID) != 60 {
		t.Errorf("%d ids kept, want all 60 (one snapshot each)", len(seenID))
	}
	checkPartition(t, src, train, test, kept)
	// 60 ids over 4 times: 15 per snapshot, round(7.5) = 8 of them to test.
	if got := countsPerTime(test); !slices.Equal(got, []int{8, 8, 8, 8}) {
		t.Errorf("test rows per time %v, want [8 8 8 8]", got)
	}
	if got := countsPerTime(train); !slices.Equal(got, []int{7, 7, 7, 7}) {
		t.Errorf("train rows per time %v, want [7 7 7 7]", got)
	}
}

// TestSplitIndependentGaps gives some ids rows at only some times: each must
// still land at a time where it has a row.
func TestSplitIndependentGaps(t *testing.T) {
	src := gridSet(12, 0, 1, 2)
	src.ID[0], src.ID[12] = 999, 998 // ids 999, 998 and 100 now have one row each, at t=0, 1 and 2
	train, test, err := Split(src, ByIndependent, 0.5, 1)
	if err != nil {
		t.Fatal(err)
	}
	seenID := map[int64]int{}
	for _, part := range []*Set{train, test} {
		for _, id := range part.ID {
			seenID[id]++
		}
	}
	for id, n := range seenID {
		if n != 1 {
			t.Errorf("id %d kept %d times", id, n)
		}
	}
	if len(seenID) != 14 || seenID[999]+seenID[998]+seenID[100] != 3 {
		t.Errorf("ids kept %v, want all 14 ids", seenID)
	}
}

func TestSplitDeterministic(t *testing.T) {
	src := gridSet(30, 0, 1, 2)
	for _, by := range []string{ByTrajectory, ByPopulation, ByIndependent} {
		a1, b1, err1 := Split(src, by, 0.5, 42)
		a2, b2, err2 := Split(src, by, 0.5, 42)
		_, b3, err3 := Split(src, by, 0.5, 43)
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatal(err1, err2, err3)
		}
		if !reflect.DeepEqual(a1, a2) || !reflect.DeepEqual(b1, b2) {
			t.Errorf("%s: same seed, different splits", by)
		}
		if reflect.DeepEqual(origin(b1), origin(b3)) {
			t.Errorf("%s: seeds 42 and 43 gave the same test rows", by)
		}
	}
}

func TestSplitErrors(t *testing.T) {
	noIDs := gridSet(10, 0, 1)
	noIDs.ID = nil
	small := gridSet(10, 0, 1)
	small.T[0] = 5 // a snapshot of one row cannot be split
	cases := []struct {
		set      *Set
		by       string
		fraction float64
		want     string
	}{
		{gridSet(10, 0), ByPopulation, 0, "--test-fraction: expected a fraction strictly between 0 and 1, got 0"},
		{gridSet(10, 0), ByPopulation, 1, "got 1"},
		{gridSet(10, 0), ByPopulation, -0.5, "got -0.5"},
		{gridSet(10, 0), ByPopulation, math.NaN(), "got NaN"},
		{gridSet(10, 0), "random", 0.5, `--by: unknown split protocol "random"`},
		{noIDs, ByTrajectory, 0.5, `split by trajectory: needs trajectory ids (field "id")`},
		{noIDs, ByIndependent, 0.5, `split by independent: needs trajectory ids`},
		{gridSet(2, 0, 1), ByTrajectory, 0.1, "split by trajectory: 2 trajectory ids with test fraction 0.1 leave one side"},
		{small, ByPopulation, 0.5, "split by population: snapshot t=5 would get no train rows (size 1, test fraction 0.5)"},
		{gridSet(10, 0, 1), ByPopulation, 0.01, "snapshot t=0 would get no test rows"},
		{gridSet(10, 0, 1), ByPopulation, 0.99, "snapshot t=0 would get no train rows"},
		{gridSet(4, 0, 1, 2, 3), ByIndependent, 0.5, "would get no"}, // one particle per snapshot
		{&Set{D: 1, X: []float64{1}, T: []float64{}}, ByPopulation, 0.5, `field "t": expected 1 values`},
	}
	for _, c := range cases {
		_, _, err := Split(c.set, c.by, c.fraction, 1)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Split(%s, %v): error %v, want one containing %q", c.by, c.fraction, err, c.want)
		}
	}
}
