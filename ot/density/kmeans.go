package density

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// Defaults of scikit-learn's KMeans as GaussianMixture calls it.
const (
	kmeansMaxIter = 300
	kmeansRelTol  = 1e-4 // lloyd stops when Σ_k ‖Δc_k‖² ≤ kmeansRelTol · mean_j Var(x_j)
)

// squaredDistance returns ‖a − b‖² over the first len(a) coordinates.
func squaredDistance(a, b []float64) float64 {
	b = b[:len(a)]
	s := 0.0
	for j, v := range a {
		t := v - b[j]
		s += t * t
	}
	return s
}

// kmeansPlusPlus chooses up to k initial centres among the n = len(x)/d
// points by greedy k-means++ seeding (Arthur & Vassilvitskii 2007, with the
// local trials of scikit-learn's _kmeans_plusplus): the first centre is a
// uniformly random point; each next one is the best, by the potential
// Σ_i min_c ‖x_i − c‖², of 2 + ⌊ln k⌋ candidates drawn with probability
// proportional to the squared distance to the nearest centre chosen so far.
//
// It returns the centres as a c×d slice. c < k exactly when the points hold
// only c distinct values (the potential reaches 0): the caller then fits c
// components. x must hold at least one point.
func kmeansPlusPlus(x []float64, d, k int, rng *rand.Rand) []float64 {
	n := len(x) / d
	trials := 2 + int(math.Log(float64(k)))
	first := rng.IntN(n)
	centres := append(make([]float64, 0, k*d), x[first*d:(first+1)*d]...)
	closest := make([]float64, n)
	potential := 0.0
	for i := range closest {
		closest[i] = squaredDistance(x[i*d:(i+1)*d], centres)
		potential += closest[i]
	}
	cumulative := make([]float64, n)
	candidates := make([]float64, trials*n)
	for len(centres) < k*d && potential > 0 {
		sum := 0.0
		for i, v := range closest {
			sum += v
			cumulative[i] = sum
		}
		best, bestID, bestPotential := 0, 0, math.Inf(1)
		for t := 0; t < trials; t++ {
			id := min(sort.SearchFloat64s(cumulative, rng.Float64()*potential), n-1)
			c := x[id*d : (id+1)*d]
			dist := candidates[t*n : (t+1)*n]
			p := 0.0
			for i := range dist {
				dist[i] = min(closest[i], squaredDistance(x[i*d:(i+1)*d], c))
				p += dist[i]
			}
			if p < bestPotential {
				best, bestID, bestPotential = t, id, p
			}
		}
		copy(closest, candidates[best*n:(best+1)*n])
		potential = bestPotential
		centres = append(centres, x[bestID*d:(bestID+1)*d]...)
	}
	return centres
}

// lloydState holds the buffers of Lloyd's algorithm. The points are kept
// coordinate-major (coordinate l of point i at x[l*n+i]).
type lloydState struct {
	x          []float64
	n, d, k    int
	workers    int
	labels     []int
	candidate  [][]float64 // per worker: 2×blockSize, ranks of the points for one centre and the best one
	minus2c    [][]float64 // per worker: −2·centre
	blockSums  []float64   // per block: K×d coordinate sums
	blockCount []int       // per block: K counts
}

// lloyd refines the k = len(centres)/d centres in place by Lloyd's algorithm
// on the n = len(x)/d points of x, as scikit-learn's _kmeans_single_lloyd
// runs it: assign each point to its nearest centre, move each centre to the
// mean of its points (an empty cluster takes the point farthest from its
// centre), and stop when the labels no longer change (strict convergence),
// when the squared centre shifts sum to ≤ relTol · mean_j Var(x_j), or after
// maxIter iterations; without strict convergence the labels are recomputed
// for the final centres. It returns the labels and the number of
// iterations; workers ≤ 0 means GOMAXPROCS, and the result does not depend
// on it.
func lloyd(x []float64, d int, centres []float64, maxIter int, relTol float64, workers int) ([]int, int) {
	n, k := len(x)/d, len(centres)/d
	nb := numBlocks(n)
	s := &lloydState{
		x: make([]float64, n*d), n: n, d: d, k: k,
		workers:    workerCount(workers, n),
		labels:     make([]int, n),
		blockSums:  make([]float64, nb*k*d),
		blockCount: make([]int, nb*k),
	}
	// Work on centred data, as scikit-learn does, so that the ranks
	// ‖c‖² − 2 x·c do not lose digits to an offset of the data.
	toColumns(s.x, n, x, d)
	mean := make([]float64, d)
	for l := range mean {
		col := s.x[l*n : (l+1)*n]
		for _, v := range col {
			mean[l] += v
		}
		mean[l] /= float64(n)
		for i := range col {
			col[i] -= mean[l]
		}
	}
	// scikit-learn's tolerance: relTol times the mean coordinate variance.
	tol := 0.0
	for _, v := range s.x {
		tol += v * v
	}
	tol *= relTol / float64(n*d)
	for c := 0; c < k; c++ {
		for l := range mean {
			centres[c*d+l] -= mean[l]
		}
	}
	defer func() {
		for c := 0; c < k; c++ {
			for l := range mean {
				centres[c*d+l] += mean[l]
			}
		}
	}()
	s.candidate = make([][]float64, s.workers)
	s.minus2c = make([][]float64, s.workers)
	for w := range s.candidate {
		s.candidate[w] = make([]float64, 2*blockSize)
		s.minus2c[w] = make([]float64, d)
	}
	oldLabels := make([]int, n)
	for i := range oldLabels {
		oldLabels[i] = -1
	}
	sums := make([]float64, k*d)
	counts := make([]int, k)
	iter := 0
	strict := false
	for iter < maxIter {
		iter++
		s.assign(centres, true)
		s.reduce(sums, counts)
		s.relocateEmpty(centres, sums, counts)
		shift := 0.0
		for c := 0; c < k; c++ {
			if counts[c] == 0 {
				continue // its only point was relocated: keep the centre
			}
			inv := 1 / float64(counts[c])
			for j := 0; j < d; j++ {
				v := sums[c*d+j] * inv
				t := v - centres[c*d+j]
				shift += t * t
				centres[c*d+j] = v
			}
		}
		if slices.Equal(s.labels, oldLabels) {
			strict = true
			break
		}
		if shift <= tol {
			break
		}
		copy(oldLabels, s.labels)
	}
	if !strict {
		s.assign(centres, false)
	}
	return s.labels, iter
}

// assign sets each point's label to its nearest centre (the first on ties),
// and with sums the per-block coordinate sums and counts of every cluster.
// Like scikit-learn it ranks centres by ‖c‖² − 2 x·c, which is
// ‖x − c‖² − ‖x‖².
func (s *lloydState) assign(centres []float64, sums bool) {
	n, d, k := s.n, s.d, s.k
	forEachBlock(n, s.workers, func(w, b, lo, hi int) {
		best := s.candidate[w][blockSize : blockSize+hi-lo]
		labels := s.labels[lo:hi]
		cand := s.candidate[w][:hi-lo]
		minus2c := s.minus2c[w]
		for c := 0; c < k; c++ {
			centre := centres[c*d : (c+1)*d]
			cc := 0.0
			for l, v := range centre {
				cc += v * v
				minus2c[l] = -2 * v
			}
			combineColumns(cand, minus2c, s.x[lo:], n)
			if c == 0 {
				clear(labels)
			}
			for i, v := range cand {
				if v += cc; c == 0 || v < best[i] {
					best[i], labels[i] = v, c
				}
			}
		}
		if !sums {
			return
		}
		bs := s.blockSums[b*k*d : (b+1)*k*d]
		bc := s.blockCount[b*k : (b+1)*k]
		clear(bs)
		clear(bc)
		for _, c := range labels {
			bc[c]++
		}
		for l := 0; l < d; l++ {
			for i, v := range s.x[l*n+lo : l*n+hi] {
				bs[labels[i]*d+l] += v
			}
		}
	})
}

// reduce adds the per-block sums and counts in block order.
func (s *lloydState) reduce(sums []float64, counts []int) {
	kd := s.k * s.d
	clear(sums)
	clear(counts)
	for b := 0; b < numBlocks(s.n); b++ {
		for j, v := range s.blockSums[b*kd : (b+1)*kd] {
			sums[j] += v
		}
		for c, v := range s.blockCount[b*s.k : (b+1)*s.k] {
			counts[c] += v
		}
	}
}

// relocateEmpty gives each empty cluster, in order, one of the points
// farthest from their centres (farthest first), moving that point's
// coordinates from its cluster's sum, as scikit-learn's
// _relocate_empty_clusters_dense does. Labels are left unchanged.
func (s *lloydState) relocateEmpty(centres, sums []float64, counts []int) {
	var empty []int
	for c, v := range counts {
		if v == 0 {
			empty = append(empty, c)
		}
	}
	if len(empty) == 0 {
		return
	}
	n, d := s.n, s.d
	dist := make([]float64, n)
	order := make([]int, n)
	for i := range order {
		order[i] = i
		c := centres[s.labels[i]*d : (s.labels[i]+1)*d]
		for l, cl := range c {
			t := s.x[l*n+i] - cl
			dist[i] += t * t
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(dist[b], dist[a]) })
	for e, c := range empty {
		far := order[e]
		old := s.labels[far]
		for l := 0; l < d; l++ {
			v := s.x[l*n+far]
			sums[old*d+l] -= v
			sums[c*d+l] = v
		}
		counts[old]--
		counts[c] = 1
	}
}
