package engine

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestStratifiedIndexUnbiased: over a uniform 32-bit word, sample j of a
// stratified sample stays in its stratum of the order, and every point is
// drawn s/m times in expectation over the s samples. The measure of the
// words that draw point q is counted exactly, by bisecting for the first
// word of each index (the index grows with the word), and differs from
// s·2³²/m by less than one word.
func TestStratifiedIndexUnbiased(t *testing.T) {
	for _, c := range []struct{ m, s int }{{7, 3}, {50, 16}, {1000, 16}, {5, 8}, {40000, 16}} {
		// first(j, q) is the least word w with stratifiedIndex(w, j, s, m) ≥ q
		// (2³² when there is none).
		first := func(j, q int) uint64 {
			lo, hi := uint64(0), uint64(1)<<32
			for lo < hi {
				w := (lo + hi) / 2
				if stratifiedIndex(uint32(w), j, c.s, c.m) >= q {
					hi = w
				} else {
					lo = w + 1
				}
			}
			return lo
		}
		for j := range c.s {
			lo, hi := stratifiedIndex(0, j, c.s, c.m), stratifiedIndex(math.MaxUint32, j, c.s, c.m)
			if lo != j*c.m/c.s || hi > ((j+1)*c.m-1)/c.s {
				t.Fatalf("m = %d, s = %d: sample %d draws from [%d, %d], outside its stratum [%d, %d]", c.m, c.s, j, lo, hi, j*c.m/c.s, ((j+1)*c.m-1)/c.s)
			}
		}
		want := float64(c.s) * (1 << 32) / float64(c.m)
		for q := range c.m {
			var words uint64
			for j := range c.s {
				words += first(j, q+1) - first(j, q)
			}
			if math.Abs(float64(words)-want) >= 1 {
				t.Fatalf("m = %d, s = %d: point %d is drawn by %d words over the samples, want %.1f", c.m, c.s, q, words, want)
			}
		}
	}
}

// TestKDOrderGrid: on a shuffled 16×16 grid the k-d order is a permutation of
// the points whose aligned runs of 16 are the 4×4 blocks (four halvings,
// alternating the axes).
func TestKDOrderGrid(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	var pop []float64
	for _, i := range rng.Perm(256) {
		pop = append(pop, float64(i%16), float64(i/16))
	}
	ordered := kdOrder(pop, 2)
	seen := map[[2]float64]bool{}
	for i := 0; i < len(ordered); i += 2 {
		seen[[2]float64{ordered[i], ordered[i+1]}] = true
	}
	if len(ordered) != len(pop) || len(seen) != 256 {
		t.Fatalf("kdOrder returned %d values with %d distinct points, want the 256 grid points", len(ordered), len(seen))
	}
	for run := range 16 {
		lo, hi := [2]float64{math.Inf(1), math.Inf(1)}, [2]float64{math.Inf(-1), math.Inf(-1)}
		for i := run * 16; i < (run+1)*16; i++ {
			for k := range 2 {
				lo[k], hi[k] = min(lo[k], ordered[2*i+k]), max(hi[k], ordered[2*i+k])
			}
		}
		if hi[0]-lo[0] != 3 || hi[1]-lo[1] != 3 {
			t.Fatalf("run %d of the k-d order spans %v to %v, want a 4×4 block", run, lo, hi)
		}
	}
}

// TestCPUDefaultEstimator: left to the CPU, an interaction network gets 16
// stratified samples, or the exact mean when no target snapshot has more
// than 32 points (it then costs no more); a network without U keeps 16
// samples that nothing draws.
func TestCPUDefaultEstimator(t *testing.T) {
	for _, c := range []struct {
		kind       string
		targets    int
		samples    int
		stratified bool
	}{{"potential-interaction", 33, 16, true}, {"potential-interaction", 32, 0, false}, {"potential", 33, 16, false}} {
		_, b := newTrainer(t, c.kind, quadraticProblem(c.targets), DefaultSettings())
		if s := b.Settings(); s.Samples != c.samples || s.Stratified != c.stratified {
			t.Errorf("%s on %d targets: %d samples, stratified %v; want %d, %v", c.kind, c.targets, s.Samples, s.Stratified, c.samples, c.stratified)
		}
	}
}

// TestStratifiedSamplesUnbiased: the mean of a smooth f(y − y′) over each of
// a pair's two stratified subsamples of 4, as the batch holds them, is over
// 3000 steps' draws the exact mean over the target population within 4
// standard errors; the two sets' errors are uncorrelated (their product is
// unbiased, so the loss ⟨r₀, r₁⟩ is); and their variance is under half that
// of 4 independent samples (f is smooth, and each sample covers a region).
func TestStratifiedSamplesUnbiased(t *testing.T) {
	p := quadraticProblem(60)
	pop, d := p.Populations[1], p.D
	f := func(v []float64) float64 { return v[0] + 0.3*v[1]*v[1] + math.Sin(v[0]*v[1]) }
	pairs := []int{0, 17, 42}
	exact := make([]float64, len(pairs))
	v := make([]float64, d)
	for i, q := range pairs {
		for j := range len(pop) / d {
			for k := range d {
				v[k] = p.Pairs.Y[q*d+k] - pop[j*d+k]
			}
			exact[i] += f(v) / float64(len(pop)/d)
		}
	}
	variance := map[bool]float64{}
	for _, stratified := range []bool{true, false} {
		_, be := newTrainer(t, "potential-interaction", p, withSamples(DefaultSettings(), 4, stratified))
		b := be.(*cpuBackend)
		const steps = 3000
		var errSum, errSq, prodSum, prodSq float64
		for step := range uint64(steps) {
			b.assemble(pairs, step)
			bt := b.batch
			for i := range pairs {
				var e [2]float64
				for a := range 2 {
					for s := range bt.S {
						for k := range d {
							v[k] = bt.Y[i*d+k] - bt.Others[a][(i*bt.S+s)*d+k]
						}
						e[a] += f(v) / float64(bt.S)
					}
					e[a] -= exact[i]
				}
				errSum, errSq = errSum+e[0]+e[1], errSq+e[0]*e[0]+e[1]*e[1]
				prodSum, prodSq = prodSum+e[0]*e[1], prodSq+e[0]*e[1]*e[0]*e[1]
			}
		}
		n := float64(2 * steps * len(pairs))
		mean, sq := errSum/n, errSq/n
		if se := math.Sqrt((sq - mean*mean) / n); math.Abs(mean) > 4*se {
			t.Errorf("stratified %v: the subsample means err by %.3g on average (4 standard errors: %.3g)", stratified, mean, 4*se)
		}
		n /= 2
		prod := prodSum / n
		if se := math.Sqrt((prodSq/n - prod*prod) / n); math.Abs(prod) > 4*se {
			t.Errorf("stratified %v: the two sets' errors have mean product %.3g (4 standard errors: %.3g)", stratified, prod, 4*se)
		}
		variance[stratified] = sq
		t.Logf("stratified %v: mean error %.3g, variance %.3g, product %.3g", stratified, mean, sq, prod)
	}
	if variance[true] > variance[false]/2 {
		t.Errorf("stratified subsample means have error variance %.3g, independent ones %.3g: want under half", variance[true], variance[false])
	}
}

func withSamples(s Settings, samples int, stratified bool) Settings {
	s.Samples, s.Stratified = samples, stratified
	return s
}
