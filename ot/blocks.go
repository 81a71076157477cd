package ot

import "fmt"

// blockRange is one block: sources [i0, i1) paired with targets [j0, j1).
type blockRange struct{ i0, i1, j0, j1 int }

// blockRanges splits n sources and m targets into blocks of at most block
// points (`--ot-block`), as the reference did on synthetic data. block 0
// means one block, the whole problem. For n = m, block b pairs sources and
// targets [b·block, (b+1)·block) (the last block may be smaller); otherwise
// both index ranges are split proportionally into the same number of
// blocks, B = ⌈max(n, m)/block⌉ (at most min(n, m)), block b holding
// [⌊b·n/B⌋, ⌊(b+1)·n/B⌋) and the same for m.
func blockRanges(n, m, block int) ([]blockRange, error) {
	if block < 0 {
		return nil, fmt.Errorf("ot: block size must be ≥ 0 (0: no blocks), got %d", block)
	}
	if block == 0 {
		return []blockRange{{0, n, 0, m}}, nil
	}
	nb := min((max(n, m)+block-1)/block, n, m)
	ranges := make([]blockRange, nb)
	for b := range ranges {
		if n == m {
			ranges[b] = blockRange{b * block, min((b+1)*block, n), b * block, min((b+1)*block, m)}
		} else {
			ranges[b] = blockRange{b * n / nb, (b + 1) * n / nb, b * m / nb, (b + 1) * m / nb}
		}
	}
	return ranges, nil
}

// mergeBlocks concatenates the block plans into one plan over all n sources
// and m targets: indices shifted, and block b's plan, of mass 1, scaled by
// its share of the sources n_b/n, so that the whole plan has mass 1 and row
// sums 1/n (column sums 1/m for n = m, about 1/m otherwise). The merged plan
// carries no duals: it is optimal within each block, not overall.
func mergeBlocks(n, m int, ranges []blockRange, plans []*Plan) *Plan {
	if len(plans) == 1 {
		return plans[0]
	}
	p := &Plan{N: n, M: m}
	for b, q := range plans {
		r := ranges[b]
		share := float64(r.i1-r.i0) / float64(n)
		for _, pr := range q.Pairs {
			p.Pairs = append(p.Pairs, Pair{I: pr.I + r.i0, J: pr.J + r.j0, W: pr.W * share})
		}
		p.Cost += q.Cost * share
	}
	return p
}

// Blocks returns the number of blocks that ExactBlocks and SinkhornBlocks
// split n sources and m targets into with this block size.
func Blocks(n, m, block int) (int, error) {
	ranges, err := blockRanges(n, m, block)
	return len(ranges), err
}

// ExactBlocks solves exact OT (see Exact) on each block of blockRanges and
// merges the plans with mergeBlocks. With one block (block 0, or
// block ≥ max(n, m)) it is Exact, duals included.
func ExactBlocks(x, y []float64, d int, cost Cost, block int) (*Plan, error) {
	return ExactBlocksProgress(x, y, d, cost, block, nil)
}

// ExactBlocksProgress is ExactBlocks calling solved(done, blocks) after
// each block is solved (solved may be nil): a block of 10^4 points takes
// seconds to a minute, a problem of 10^5 points ten of them.
func ExactBlocksProgress(x, y []float64, d int, cost Cost, block int, solved func(done, blocks int)) (*Plan, error) {
	n, m, err := checkClouds(x, y, d, cost)
	if err != nil {
		return nil, err
	}
	ranges, err := blockRanges(n, m, block)
	if err != nil {
		return nil, err
	}
	plans := make([]*Plan, len(ranges))
	for b, r := range ranges {
		plans[b] = exact(exactCosts(x[r.i0*d:r.i1*d], y[r.j0*d:r.j1*d], d, cost))
		if solved != nil {
			solved(b+1, len(ranges))
		}
	}
	return mergeBlocks(n, m, ranges, plans), nil
}
