package snapshot

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Split protocols.
const (
	// ByTrajectory puts round(fraction × #ids) whole trajectories in test and
	// the rest in train, so each side holds the same ids at every time (the
	// reference protocol).
	ByTrajectory = "trajectory"
	// ByPopulation splits each snapshot independently: round(fraction × n)
	// random rows of every time go to test. Consecutive snapshots of one side
	// still share many particles.
	ByPopulation = "population"
	// ByIndependent first gives every trajectory id to exactly one snapshot
	// time (balanced, at random) and keeps only its rows at that time, so no
	// particle identity links two snapshots; then it splits each snapshot like
	// ByPopulation. Each of the T+1 snapshots keeps only about N/(T+1) of the
	// N particles: generate that many times more particles for this protocol.
	ByIndependent = "independent"
)

// splitStream is the PCG stream of the split's random numbers, so that the
// same seed used elsewhere (e.g. by the generator) draws a different sequence.
const splitStream = 0x5eed_5b11_7000_0001

// Split divides s into train and test sets by the protocol by (ByTrajectory,
// ByPopulation or ByIndependent). testFraction must be in (0, 1), and every
// snapshot must get at least one row on each side. The result depends only on
// s, the arguments and seed. Rows keep their original order; DT and Meta are
// carried over to both sets.
func Split(s *Set, by string, testFraction float64, seed uint64) (train, test *Set, err error) {
	if err := s.Validate(); err != nil {
		return nil, nil, err
	}
	if !(testFraction > 0 && testFraction < 1) {
		return nil, nil, fmt.Errorf("--test-fraction: expected a fraction strictly between 0 and 1, got %v", testFraction)
	}
	switch by {
	case ByTrajectory, ByIndependent:
		if s.ID == nil {
			return nil, nil, fmt.Errorf(`split by %s: needs trajectory ids (field "id"), and the data have none; split by %s instead`, by, ByPopulation)
		}
	case ByPopulation:
	default:
		return nil, nil, fmt.Errorf("--by: unknown split protocol %q (expected %s, %s or %s)", by, ByTrajectory, ByPopulation, ByIndependent)
	}

	rng := rand.New(rand.NewPCG(seed, splitStream))
	times, groups := s.rowsByTime()
	isTest := make([]bool, s.Len())
	switch by {
	case ByTrajectory:
		err = markTestTrajectories(s.ID, testFraction, rng, isTest)
	case ByPopulation:
		markTestRows(groups, testFraction, rng, isTest)
	case ByIndependent:
		groups = oneTimePerID(s.ID, groups, rng)
		markTestRows(groups, testFraction, rng, isTest)
	}
	if err == nil {
		err = checkBothSides(times, groups, isTest, testFraction)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("split by %s: %w", by, err)
	}

	kept := slices.Concat(groups...)
	slices.Sort(kept)
	var trainRows, testRows []int
	for _, i := range kept {
		if isTest[i] {
			testRows = append(testRows, i)
		} else {
			trainRows = append(trainRows, i)
		}
	}
	return s.subset(trainRows), s.subset(testRows), nil
}

// markTestTrajectories marks every row of round(fraction × #ids) randomly
// chosen ids.
func markTestTrajectories(ids []int64, fraction float64, rng *rand.Rand, isTest []bool) error {
	distinct := distinctIDs(ids)
	n := int(math.Round(fraction * float64(len(distinct))))
	if n == 0 || n == len(distinct) {
		return fmt.Errorf("%d trajectory ids with test fraction %v leave one side without trajectories", len(distinct), fraction)
	}
	chosen := map[int64]bool{}
	for _, k := range rng.Perm(len(distinct))[:n] {
		chosen[distinct[k]] = true
	}
	for i, id := range ids {
		isTest[i] = chosen[id]
	}
	return nil
}

// markTestRows marks round(fraction × n) random rows of each group.
func markTestRows(groups [][]int, fraction float64, rng *rand.Rand, isTest []bool) {
	for _, rows := range groups {
		n := int(math.Round(fraction * float64(len(rows))))
		for _, k := range rng.Perm(len(rows))[:n] {
			isTest[rows[k]] = true
		}
	}
}

// oneTimePerID gives each id one time and returns, per time, only the rows
// of the ids given to it. Ids are dealt round-robin over the times in random
// order, which balances the snapshots; an id absent at its turn's time goes
// to the time, among those where it has rows, that has the fewest ids so far.
func oneTimePerID(ids []int64, groups [][]int, rng *rand.Rand) [][]int {
	present := map[int64][]bool{} // id → has rows at time k
	for k, rows := range groups {
		for _, i := range rows {
			if present[ids[i]] == nil {
				present[ids[i]] = make([]bool, len(groups))
			}
			present[ids[i]][k] = true
		}
	}
	distinct := distinctIDs(ids)
	given := map[int64]int{}
	counts := make([]int, len(groups))
	for turn, k := range rng.Perm(len(distinct)) {
		id := distinct[k]
		at := turn % len(groups)
		if !present[id][at] {
			at = -1
			for j, ok := range present[id] {
				if ok && (at < 0 || counts[j] < counts[at]) {
					at = j
				}
			}
		}
		given[id] = at
		counts[at]++
	}
	kept := make([][]int, len(groups))
	for k, rows := range groups {
		for _, i := range rows {
			if given[ids[i]] == k {
				kept[k] = append(kept[k], i)
			}
		}
	}
	return kept
}

// checkBothSides fails unless every snapshot has rows in train and in test.
func checkBothSides(times []float64, groups [][]int, isTest []bool, fraction float64) error {
	for k, rows := range groups {
		nTest := 0
		for _, i := range rows {
			if isTest[i] {
				nTest++
			}
		}
		if nTest == 0 || nTest == len(rows) {
			side := "test"
			if nTest > 0 {
				side = "train"
			}
			return fmt.Errorf("snapshot t=%v would get no %s rows (size %d, test fraction %v)", times[k], side, len(rows), fraction)
		}
	}
	return nil
}
