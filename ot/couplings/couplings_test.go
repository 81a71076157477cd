package couplings

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/data/npz"
	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/ot/density"
)

// randomSet has one snapshot per time with counts[k] uniform points in
// [0, 1]^d.
func randomSet(seed uint64, d int, times []float64, counts []int) *snapshot.Set {
	rng := rand.New(rand.NewPCG(seed, 0))
	s := &snapshot.Set{D: d}
	for k, t := range times {
		for i := 0; i < counts[k]; i++ {
			for a := 0; a < d; a++ {
				s.X = append(s.X, rng.Float64())
			}
			s.T = append(s.T, t)
		}
	}
	return s
}

func TestTimeSteps(t *testing.T) {
	// Intervals 1 and 2, mean 1.5: τ = 2/3 and 4/3.
	got := TimeSteps([]float64{0, 1, 3})
	want := []float64{2.0 / 3, 4.0 / 3}
	for k := range want {
		if math.Abs(got[k]-want[k]) > 1e-15 {
			t.Fatalf("τ = %v, want %v", got, want)
		}
	}
	for _, tau := range TimeSteps([]float64{2, 4, 6, 8}) {
		if tau != 1 {
			t.Fatalf("even spacing gave τ = %v, want 1", tau)
		}
	}
}

// permutations calls f with every permutation of 0..n-1.
func permutations(n int, f func([]int)) {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	var rec func(int)
	rec = func(k int) {
		if k == n {
			f(p)
			return
		}
		for i := k; i < n; i++ {
			p[k], p[i] = p[i], p[k]
			rec(k + 1)
			p[k], p[i] = p[i], p[k]
		}
	}
	rec(0)
}

// TestExactPairsAreOptimal: with n = m the kept pairs are a permutation of
// weight 1/n whose cost is the brute-force minimum, and τ, k and the score
// are those of the transition and of the target snapshot's mixture.
func TestExactPairsAreOptimal(t *testing.T) {
	const n, d = 6, 2
	set := randomSet(1, d, []float64{0, 1, 3}, []int{n, n, n})
	opts := DefaultOptions()
	opts.Components = 2
	c, rep, err := Compute(set, opts)
	if err != nil {
		t.Fatal(err)
	}
	snaps := set.Snapshots()
	if c.Len() != 2*n || len(rep.Transitions) != 2 || len(rep.Snapshots) != 2 {
		t.Fatalf("%d pairs, %d transition reports, %d snapshot reports", c.Len(), len(rep.Transitions), len(rep.Snapshots))
	}
	for k := 0; k < 2; k++ {
		src, dst := snaps[k].X, snaps[k+1].X
		best := math.Inf(1)
		permutations(n, func(p []int) {
			var cost float64
			for i, j := range p {
				for a := 0; a < d; a++ {
					diff := src[i*d+a] - dst[j*d+a]
					cost += diff * diff / n
				}
			}
			best = min(best, cost)
		})
		if got := rep.Transitions[k].Cost; math.Abs(got-best) > 1e-12 {
			t.Fatalf("transition %d: cost %v, brute force %v", k, got, best)
		}
		mix, _, err := density.FitMixture(dst, d, density.MixtureOptions{Components: 2})
		if err != nil {
			t.Fatal(err)
		}
		score := make([]float64, n*d)
		if err := mix.Score(c.Y[k*n*d:(k+1)*n*d], d, score); err != nil {
			t.Fatal(err)
		}
		for p := k * n; p < (k+1)*n; p++ {
			if c.W[p] != 1.0/n || c.K[p] != int64(k) || c.Tau[p] != TimeSteps(c.Times)[k] {
				t.Fatalf("pair %d: w %v k %d tau %v", p, c.W[p], c.K[p], c.Tau[p])
			}
			for a := 0; a < d; a++ {
				if c.Score[p*d+a] != score[(p-k*n)*d+a] {
					t.Fatalf("pair %d: score differs from the target mixture's", p)
				}
			}
		}
	}
}

// TestRectangularMarginals: with n ≠ m the kept pairs still carry the whole
// marginals (every plan entry is ≥ 1/(n·m) > 1/(10·max(n, m)) here).
func TestRectangularMarginals(t *testing.T) {
	const n, m, d = 40, 60, 3
	set := randomSet(2, d, []float64{0, 1}, []int{n, m})
	c, _, err := Compute(set, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	snaps := set.Snapshots()
	rows, cols := make([]float64, n), make([]float64, m)
	for p := range c.W {
		rows[indexOf(t, snaps[0].X, c.X[p*d:(p+1)*d], d)] += c.W[p]
		cols[indexOf(t, snaps[1].X, c.Y[p*d:(p+1)*d], d)] += c.W[p]
	}
	for i := range rows {
		if math.Abs(rows[i]-1.0/n) > 1e-12 {
			t.Fatalf("source %d carries %v, want 1/%d", i, rows[i], n)
		}
	}
	for j := range cols {
		if math.Abs(cols[j]-1.0/m) > 1e-12 {
			t.Fatalf("target %d receives %v, want 1/%d", j, cols[j], m)
		}
	}
}

func indexOf(t *testing.T, pts, p []float64, d int) int {
	for i := 0; i < len(pts)/d; i++ {
		if pts[i*d] == p[0] && pts[i*d+1] == p[1] {
			return i
		}
	}
	t.Fatalf("point %v not found", p)
	return -1
}

// TestSinkhornKeepsRowMass: each source keeps at least 99% of its mass 1/n,
// and a small ε gives a cost close to the exact one.
func TestSinkhornKeepsRowMass(t *testing.T) {
	const n, d = 50, 2
	set := randomSet(3, d, []float64{0, 1}, []int{n, n})
	exact, exactRep, err := Compute(set, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	opts := DefaultOptions()
	opts.Method, opts.Epsilon = "sinkhorn", 0.01
	c, rep, err := Compute(set, opts)
	if err != nil {
		t.Fatal(err)
	}
	if tr := rep.Transitions[0]; tr.Converged == nil || !*tr.Converged || tr.Iterations == 0 {
		t.Fatalf("sinkhorn report %+v", tr)
	}
	rows := map[float64]float64{}
	for p := range c.W {
		rows[c.X[p*d]] += c.W[p]
	}
	// Rows are exact to the marginal tolerance 1e-6.
	for x, mass := range rows {
		if mass < 0.99/n-1e-12 || mass > 1.0/n+1e-6 {
			t.Fatalf("source at x=%v keeps %v, want in [0.99/n, 1/n]", x, mass)
		}
	}
	// The blurred plan's kept cost is within a few percent of the exact one.
	if got, want := rep.Transitions[0].Cost, exactRep.Transitions[0].Cost; math.Abs(got-want) > 0.05*want {
		t.Fatalf("sinkhorn cost %v, exact %v", got, want)
	}
	if c.Len() < exact.Len() {
		t.Fatalf("sinkhorn kept %d pairs, fewer than the permutation's %d", c.Len(), exact.Len())
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	set := randomSet(4, 2, []float64{0, 1, 2}, []int{30, 30, 30})
	c, _, err := Compute(set, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "c.npz")
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	same := func(a, b []float64) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	if got.D != c.D || !same(got.X, c.X) || !same(got.Y, c.Y) || !same(got.W, c.W) || !same(got.Tau, c.Tau) ||
		!same(got.Score, c.Score) || !same(got.Times, c.Times) || len(got.K) != len(c.K) {
		t.Fatal("round trip changed the couplings")
	}
}

func TestLoadRejectsBadFiles(t *testing.T) {
	set := randomSet(5, 2, []float64{0, 1}, []int{20, 20})
	c, _, err := Compute(set, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := npz.Archive{
		{Name: "x", Array: npz.FromFloat64([]int{c.Len(), 2}, c.X)},
		{Name: "y", Array: npz.FromFloat64([]int{c.Len(), 2}, c.Y)},
		{Name: "w", Array: npz.FromFloat64([]int{c.Len()}, c.W)},
		{Name: "k", Array: npz.FromInt64([]int{c.Len()}, c.K)},
		{Name: "tau", Array: npz.FromFloat64([]int{c.Len()}, c.Tau)},
		{Name: "score", Array: npz.FromFloat64([]int{c.Len(), 2}, c.Score)},
		{Name: "times", Array: npz.FromFloat64([]int{2}, c.Times)},
	}
	nan := append([]float64(nil), c.W...)
	nan[3] = math.NaN()
	cases := []struct {
		name, want string
		edit       func(npz.Archive) npz.Archive
	}{
		{"missing y", `field "y": missing`, func(a npz.Archive) npz.Archive { return append(a[:1:1], a[2:]...) }},
		{"short w", `field "w": expected 20 float values`, func(a npz.Archive) npz.Archive {
			a[2].Array = npz.FromFloat64([]int{19}, c.W[:19])
			return a
		}},
		{"nan w", `field "w": entry 3 is NaN`, func(a npz.Archive) npz.Archive { a[2].Array = npz.FromFloat64([]int{20}, nan); return a }},
		{"bad k", `field "k": pair 0 has transition 1`, func(a npz.Archive) npz.Archive {
			a[3].Array = npz.FromInt64([]int{20}, make([]int64, 20))
			a[3].Array.Int[0] = 1
			return a
		}},
		{"one time", `field "times": expected at least 2`, func(a npz.Archive) npz.Archive {
			a[6].Array = npz.FromFloat64([]int{1}, []float64{0})
			return a
		}},
	}
	for _, tc := range cases {
		arch := append(npz.Archive(nil), good...)
		path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".npz")
		if err := npz.WriteFile(path, tc.edit(arch)); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		if err == nil || !strings.HasPrefix(err.Error(), path+": ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := Load(filepath.Join(dir, "none.npz")); err == nil {
		t.Error("missing file accepted")
	}
	os.WriteFile(filepath.Join(dir, "text.npz"), []byte("x"), 0o644)
	if _, err := Load(filepath.Join(dir, "text.npz")); err == nil {
		t.Error("text file accepted")
	}
}

// TestLoadRefusesZeroPairs: a couplings file with no pairs (x of shape
// (0, d), every other per-pair field empty) was accepted, and training then
// failed naming no file.
func TestLoadRefusesZeroPairs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zero.npz")
	err := npz.WriteFile(path, npz.Archive{
		{Name: "x", Array: npz.FromFloat64([]int{0, 2}, nil)},
		{Name: "y", Array: npz.FromFloat64([]int{0, 2}, nil)},
		{Name: "w", Array: npz.FromFloat64([]int{0}, nil)},
		{Name: "k", Array: npz.FromInt64([]int{0}, nil)},
		{Name: "tau", Array: npz.FromFloat64([]int{0}, nil)},
		{Name: "score", Array: npz.FromFloat64([]int{0, 2}, nil)},
		{Name: "times", Array: npz.FromFloat64([]int{3}, []float64{0, 1, 2})},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Load(path)
	want := path + `: field "x": expected at least one pair, got shape (0, 2)`
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

func TestComputeRejectsBadInput(t *testing.T) {
	one := randomSet(6, 2, []float64{0}, []int{10})
	lonely := randomSet(6, 2, []float64{0, 1}, []int{10, 1})
	ok := randomSet(6, 2, []float64{0, 1}, []int{10, 10})
	bad := func(edit func(*Options)) Options { o := DefaultOptions(); edit(&o); return o }
	cases := []struct {
		set  *snapshot.Set
		opts Options
		want string
	}{
		{one, DefaultOptions(), "need at least 2 snapshot times"},
		{lonely, DefaultOptions(), "snapshot t=1 has 1 point"},
		{ok, bad(func(o *Options) { o.Method = "magic" }), "--coupling: unknown method"},
		{ok, bad(func(o *Options) { o.Method, o.Epsilon = "sinkhorn", 0 }), "--epsilon: expected a finite ε > 0"},
		{ok, bad(func(o *Options) { o.Block = -1 }), "--ot-block"},
		{ok, bad(func(o *Options) { o.Components = 0 }), "--components"},
		{ok, bad(func(o *Options) { o.Method = "ids" }), "the data have no trajectory ids"},
		{withIDs(ok, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, []int64{11, 12, 13, 14, 15, 16, 17, 18, 19, 20}), bad(func(o *Options) { o.Method = "ids" }), "no trajectory id is in both"},
		{withIDs(ok, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 9}, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}), bad(func(o *Options) { o.Method = "ids" }), "id 9 appears twice in the source"},
	}
	for _, tc := range cases {
		if _, _, err := Compute(tc.set, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}

// withIDs returns a copy of a two-snapshot set with the given ids.
func withIDs(s *snapshot.Set, first, second []int64) *snapshot.Set {
	c := *s
	c.ID = append(append([]int64{}, first...), second...)
	return &c
}

// TestPairByID: the pairs are the rows that share an id, whatever the row
// order, with equal weights summing to 1, and the score is evaluated at the
// paired targets as for OT couplings.
func TestPairByID(t *testing.T) {
	set := randomSet(9, 2, []float64{0, 1}, []int{6, 5})
	set = withIDs(set, []int64{40, 41, 42, 43, 44, 45}, []int64{44, 99, 40, 42, 45})
	opts := DefaultOptions()
	opts.Method, opts.Components = "ids", 1
	c, rep, err := Compute(set, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Source rows 0, 2, 4, 5 (ids 40, 42, 44, 45) go to target rows 2, 3, 0, 4.
	wantPairs := [][2]int{{0, 2}, {2, 3}, {4, 0}, {5, 4}}
	if c.Len() != len(wantPairs) || rep.Transitions[0].Pairs != len(wantPairs) {
		t.Fatalf("got %d pairs, want %d", c.Len(), len(wantPairs))
	}
	for p, ij := range wantPairs {
		x, y := set.X[ij[0]*2:ij[0]*2+2], set.X[(6+ij[1])*2:(6+ij[1])*2+2]
		if c.X[2*p] != x[0] || c.X[2*p+1] != x[1] || c.Y[2*p] != y[0] || c.Y[2*p+1] != y[1] || c.W[p] != 0.25 {
			t.Errorf("pair %d: x %v y %v w %v, want x %v y %v w 0.25", p, c.X[2*p:2*p+2], c.Y[2*p:2*p+2], c.W[p], x, y)
		}
	}
	if len(c.Score) != 2*len(wantPairs) {
		t.Errorf("got %d score values, want %d", len(c.Score), 2*len(wantPairs))
	}
}
