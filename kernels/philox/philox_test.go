package philox

import (
	"math"
	"testing"
)

// The Philox4x32-10 lines of Random123's known-answer file kat_vectors:
// counter, key, expected block.
func TestBlockKnownAnswers(t *testing.T) {
	cases := []struct {
		ctr  [4]uint32
		key  [2]uint32
		want [4]uint32
	}{
		{[4]uint32{0, 0, 0, 0}, [2]uint32{0, 0}, [4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
		{[4]uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, [2]uint32{0xffffffff, 0xffffffff}, [4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
		{[4]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, [2]uint32{0xa4093822, 0x299f31d0}, [4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
	}
	for _, c := range cases {
		if got := Block(c.ctr, c.key); got != c.want {
			t.Errorf("Block(%08x, %08x) = %08x, want %08x", c.ctr, c.key, got, c.want)
		}
	}
}

// Index maps the block's words as documented: slot picks the counter's last
// word (slot/4) and the word (slot%4), and the index is the high half of w·n.
func TestIndexUsesTheDocumentedCounter(t *testing.T) {
	seed, step := uint64(0x0123456789abcdef), uint64(0xfedcba9876543210)
	for slot := uint32(0); slot < 12; slot++ {
		w := Block([4]uint32{0x76543210, 0xfedcba98, 7, slot / 4}, [2]uint32{0x89abcdef, 0x01234567})
		n := uint32(1000 + slot)
		want := uint32(uint64(w[slot%4]) * uint64(n) >> 32)
		if got := Index(seed, step, 7, slot, n); got != want {
			t.Errorf("slot %d: Index = %d, want %d", slot, got, want)
		}
	}
}

// Indices are uniform on [0, n): a χ² test over 200,000 draws into n = 50
// cells (49 degrees of freedom; the 99.99% quantile is about 94), and every
// index below n.
func TestIndexIsUniform(t *testing.T) {
	const n, draws = 50, 200_000
	var counts [n]int
	for i := 0; i < draws; i++ {
		q := Index(3, uint64(i/100), uint32(i%100), uint32(i%7), n)
		if q >= n {
			t.Fatalf("Index = %d ≥ n = %d", q, n)
		}
		counts[q]++
	}
	var chi2 float64
	e := float64(draws) / n
	for _, c := range counts {
		chi2 += (float64(c) - e) * (float64(c) - e) / e
	}
	if chi2 > 94 || math.IsNaN(chi2) {
		t.Errorf("χ² = %.1f over %d cells, want below 94", chi2, n)
	}
}
