package ot

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// randomMasses returns n source and m target masses with equal totals: the
// sources' drawn in 1..top (raised one by one while their total is below
// m), the targets' a random composition of that total into m positive
// parts.
func randomMasses(rng *rand.Rand, n, m int, top int64) (s, t []int64) {
	s = make([]int64, n)
	var total int64
	for i := range s {
		s[i] = 1 + rng.Int64N(top)
		total += s[i]
	}
	for ; total < int64(m); total++ {
		s[rng.IntN(n)]++
	}
	t = filled(m, 1)
	for left := total - int64(m); left > 0; left-- {
		t[rng.IntN(m)]++
	}
	return s, t
}

// massCosts is the assignment of size S = Σ s that repeats source i s_i
// times and target j t_j times: its optimum divided by S is the weighted
// transport optimum.
func massCosts(x, y []float64, d int, cost Cost, s, t []int64) [][]float64 {
	var rows, cols []int
	for i, v := range s {
		for range v {
			rows = append(rows, i)
		}
	}
	for j, v := range t {
		for range v {
			cols = append(cols, j)
		}
	}
	c := make([][]float64, len(rows))
	for a, i := range rows {
		c[a] = make([]float64, len(cols))
		for b, j := range cols {
			c[a][b] = costOf(x, y, d, cost, i, j)
		}
	}
	return c
}

// checkMassMarginals checks the plan's row sums s_i/S, column sums t_j/S and
// claimed cost against the points.
func checkMassMarginals(t *testing.T, p *Plan, x, y []float64, d int, cost Cost, s, u []int64) {
	t.Helper()
	var total int64
	for _, v := range s {
		total += v
	}
	rows, cols := make([]float64, len(s)), make([]float64, len(u))
	var sum float64
	for _, q := range p.Pairs {
		rows[q.I] += q.W
		cols[q.J] += q.W
		sum += q.W * costOf(x, y, d, cost, q.I, q.J)
	}
	for i, r := range rows {
		if want := float64(s[i]) / float64(total); math.Abs(r-want) > 1e-12 {
			t.Fatalf("row %d sums to %v, want %v", i, r, want)
		}
	}
	for j, c := range cols {
		if want := float64(u[j]) / float64(total); math.Abs(c-want) > 1e-12 {
			t.Fatalf("column %d sums to %v, want %v", j, c, want)
		}
	}
	if math.Abs(sum-p.Cost) > 1e-12*(1+math.Abs(sum)) {
		t.Fatalf("plan claims cost %v, pairs cost %v", p.Cost, sum)
	}
}

// Weighted problems against brute force (all assignments of the repeated
// points for S ≤ 8) and the Hungarian method on the repeated points,
// through the passes over rows and through the k-d trees, on random and
// tied points; every plan passes CertifyMasses.
func TestExactMassesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(20, 21))
	for _, trees := range []bool{false, true} {
		old := treeMinPairs
		if trees {
			treeMinPairs = 0
		}
		for trial := range 120 {
			n, m, d := 1+rng.IntN(5), 1+rng.IntN(6), 1+rng.IntN(3)
			s, u := randomMasses(rng, n, m, 4)
			x, y := uniformCloud(rng, n, d), uniformCloud(rng, m, d)
			if trial%3 == 1 { // ties and duplicates
				x, y = gridCloud(rng, n, d, 2), gridCloud(rng, m, d, 2)
			}
			for _, cost := range []Cost{SqEuclidean, Euclidean} {
				p, err := ExactMasses(x, y, d, cost, s, u)
				if err != nil {
					t.Fatal(err)
				}
				c := massCosts(x, y, d, cost, s, u)
				want := hungarian(c) / float64(len(c))
				if len(c) <= 8 {
					if bf := bruteForceAssignment(c) / float64(len(c)); math.Abs(bf-want) > 1e-12*(1+bf) {
						t.Fatalf("the reference solvers disagree: %v, %v", bf, want)
					}
				}
				if math.Abs(p.Cost-want) > 1e-12*(1+want) {
					t.Fatalf("trees %v, masses %v → %v, %v: cost %v, repeated assignment %v", trees, s, u, cost, p.Cost, want)
				}
				checkMassMarginals(t, p, x, y, d, cost, s, u)
				if err := CertifyMasses(x, y, d, cost, s, u, p); err != nil {
					t.Fatalf("trees %v, masses %v → %v: %v", trees, s, u, err)
				}
			}
		}
		treeMinPairs = old
	}
}

// Larger weighted problems, unequal and coprime, are certified; a planted
// violation of each kind is caught: a dual raised above a cost, mass moved
// between two targets of a row (marginals), a dual moved off a plan pair.
func TestExactMassesCertificate(t *testing.T) {
	rng := rand.New(rand.NewPCG(22, 23))
	for _, sz := range [][3]int{{300, 450, 2}, {301, 300, 5}, {200, 200, 3}} {
		n, m, d := sz[0], sz[1], sz[2]
		x, y := uniformCloud(rng, n, d), uniformCloud(rng, m, d)
		s, u := randomMasses(rng, n, m, 9)
		p, err := ExactMasses(x, y, d, SqEuclidean, s, u)
		if err != nil {
			t.Fatal(err)
		}
		checkMassMarginals(t, p, x, y, d, SqEuclidean, s, u)
		if err := CertifyMasses(x, y, d, SqEuclidean, s, u, p); err != nil {
			t.Fatalf("%v: %v", sz, err)
		}
		// The uniform certificate refuses the weighted marginals.
		if err := Certify(x, y, d, SqEuclidean, p); err == nil || !strings.Contains(err.Error(), "sums to") {
			t.Fatalf("%v: Certify with uniform masses: %v", sz, err)
		}
		raised := *p
		raised.V = append([]float64(nil), p.V...)
		raised.V[m/2] += 0.05
		if err := CertifyMasses(x, y, d, SqEuclidean, s, u, &raised); err == nil {
			t.Fatalf("%v: a raised dual passed", sz)
		}
		moved := *p
		moved.Pairs = append([]Pair(nil), p.Pairs...)
		moved.Pairs[0].W /= 2
		if err := CertifyMasses(x, y, d, SqEuclidean, s, u, &moved); err == nil || !strings.Contains(err.Error(), "sums to") {
			t.Fatalf("%v: halved mass: %v", sz, err)
		}
		lowered := *p
		lowered.U = append([]float64(nil), p.U...)
		lowered.U[p.Pairs[0].I] -= 0.05
		if err := CertifyMasses(x, y, d, SqEuclidean, s, u, &lowered); err == nil || !strings.Contains(err.Error(), "not tight") {
			t.Fatalf("%v: lowered dual: %v", sz, err)
		}
	}
}

// Equal masses on each side are the uniform problem: the same plan as
// Exact's, pair for pair.
func TestExactMassesEqualIsUniform(t *testing.T) {
	rng := rand.New(rand.NewPCG(24, 25))
	for _, sz := range [][2]int{{40, 40}, {40, 60}, {30, 31}} {
		n, m := sz[0], sz[1]
		x, y := uniformCloud(rng, n, 2), uniformCloud(rng, m, 2)
		g := gcd(n, m)
		p, err := ExactMasses(x, y, 2, SqEuclidean, filled(n, int64(3*m/g)), filled(m, int64(3*n/g)))
		if err != nil {
			t.Fatal(err)
		}
		want, err := Exact(x, y, 2, SqEuclidean)
		if err != nil {
			t.Fatal(err)
		}
		if p.Cost != want.Cost || len(p.Pairs) != len(want.Pairs) {
			t.Fatalf("%v: cost %v with %d pairs, Exact %v with %d", sz, p.Cost, len(p.Pairs), want.Cost, len(want.Pairs))
		}
		for k := range p.Pairs {
			if p.Pairs[k] != want.Pairs[k] {
				t.Fatalf("%v: pair %d %v, Exact %v", sz, k, p.Pairs[k], want.Pairs[k])
			}
		}
	}
}

func TestExactMassesRejectsBadMasses(t *testing.T) {
	x, y := []float64{0, 1, 2}, []float64{0, 1}
	for _, c := range []struct {
		s, t []int64
		want string
	}{
		{[]int64{1, 1}, []int64{1, 2}, "2 source and 2 target masses for 3 and 2 points"},
		{[]int64{1, 0, 1}, []int64{1, 1}, "source mass 1 is 0, expected a positive integer"},
		{[]int64{1, 1, 1}, []int64{4, -1}, "target mass 1 is -1, expected a positive integer"},
		{[]int64{1, 1, 1}, []int64{1, 1}, "source masses sum to 3, target masses to 2, expected equal totals"},
		{[]int64{1, math.MaxInt64, 1}, []int64{1, 1}, "source masses sum past"},
	} {
		_, err := ExactMasses(x, y, 1, SqEuclidean, c.s, c.t)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("masses %v, %v: error %v, want %q", c.s, c.t, err, c.want)
		}
		if err := CertifyMasses(x, y, 1, SqEuclidean, c.s, c.t, &Plan{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CertifyMasses %v, %v: error %v, want %q", c.s, c.t, err, c.want)
		}
	}
}

// byCost orders by cost, ties by number, as a comparison sort does, on
// costs with many ties, zeros and a wide range of exponents, and on none.
func TestByCostSorts(t *testing.T) {
	rng := rand.New(rand.NewPCG(26, 27))
	for _, n := range []int{0, 1, 2, 17, 5000} {
		cost := make([]float64, n)
		for e := range cost {
			switch rng.IntN(3) {
			case 0:
				cost[e] = float64(rng.IntN(5))
			case 1:
				cost[e] = rng.Float64() * math.Pow(10, float64(rng.IntN(40)-20))
			default:
				cost[e] = rng.Float64()
			}
		}
		got := byCost(cost)
		want := make([]int32, n)
		for e := range want {
			want[e] = int32(e)
		}
		slices.SortStableFunc(want, func(a, b int32) int { return cmp.Compare(cost[a], cost[b]) })
		if !slices.Equal(got, want) {
			t.Fatalf("n=%d: byCost differs from the stable sort", n)
		}
	}
}
