package engine

import (
	"cmp"
	"math/bits"
	"slices"
	"strconv"
)

// kdOrder returns the m×d points of pop reordered along the leaves of a k-d
// tree: halves split at the median of the coordinate of widest spread, down
// to single points. Consecutive points of the order are close in space, so
// every run of it covers a region, and a stratified sample along it
// (stratifiedIndex) is a sample stratified in space.
func kdOrder(pop []float64, d int) []float64 {
	m := len(pop) / d
	idx := make([]int, m)
	for i := range idx {
		idx[i] = i
	}
	var split func(idx []int)
	split = func(idx []int) {
		if len(idx) < 2 {
			return
		}
		axis, widest := 0, -1.0
		for k := range d {
			lo, hi := pop[idx[0]*d+k], pop[idx[0]*d+k]
			for _, i := range idx[1:] {
				lo, hi = min(lo, pop[i*d+k]), max(hi, pop[i*d+k])
			}
			if hi-lo > widest {
				axis, widest = k, hi-lo
			}
		}
		// Ties go by index, so the order is a function of the points alone.
		slices.SortFunc(idx, func(a, b int) int {
			return cmp.Or(cmp.Compare(pop[a*d+axis], pop[b*d+axis]), cmp.Compare(a, b))
		})
		split(idx[:len(idx)/2])
		split(idx[len(idx)/2:])
	}
	split(idx)
	out := make([]float64, 0, len(pop))
	for _, i := range idx {
		out = append(out, pop[i*d:(i+1)*d]...)
	}
	return out
}

// stratifiedIndex is sample j of a stratified sample of s points from a
// population of m in a fixed order, drawn with the uniform word w: the index
// ⌊(w/2³² + j)·m/s⌋, uniform on stratum j, the run [j·m/s, (j+1)·m/s) of the
// order. The s strata are of equal length m/s, so the mean of the samples is
// an unbiased estimate of the mean over the population (each point is drawn
// s/m times in expectation), and with a word per sample the errors of the
// strata are independent: along kdOrder a smooth function's mean is then
// estimated from the variance within regions of the population instead of
// across it.
func stratifiedIndex(w uint32, j, s, m int) int {
	// (w + j·2³²)·m / (s·2³²) in 128 bits: the product passes 2⁶⁴ for
	// large populations.
	hi, lo := bits.Mul64(uint64(j)<<32|uint64(w), uint64(m))
	q, _ := bits.Div64(hi, lo, uint64(s)<<32)
	return int(q)
}

// estimatorName is an interaction estimator as the fingerprint and resume's
// messages name it: S, or S stratified.
func estimatorName(samples int, stratified bool) string {
	if stratified {
		return strconv.Itoa(samples) + " " + StratifiedSampling
	}
	return strconv.Itoa(samples)
}
