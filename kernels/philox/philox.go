// Package philox is the counter-based generator Philox4x32-10 (Salmon,
// Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3",
// SC 2011) and the interaction-sample indices drawn from it.
//
// Training draws its interaction samples from Index, a pure function of
// (seed, step, pair, slot): every backend (the CPU in Go, the CUDA kernels
// in kernels/philox.cuh, which implement the same function) draws the same
// samples in any order and on any number of workers, and a resumed run
// repeats its steps exactly.
package philox

import "math/bits"

// The round multipliers and the Weyl key increments of Philox4x32.
const (
	m0 = 0xD2511F53
	m1 = 0xCD9E8D57
	w0 = 0x9E3779B9
	w1 = 0xBB67AE85
)

// Rounds is the number of rounds of the generator (Philox4x32-10).
const Rounds = 10

// Block is Philox4x32-10 of the counter ctr under key: ten rounds of
//
//	(c₀, c₁, c₂, c₃) ← (hi(m₁c₂) ⊕ c₁ ⊕ k₀, lo(m₁c₂), hi(m₀c₀) ⊕ c₃ ⊕ k₁, lo(m₀c₀)),
//
// the key bumped by (w₀, w₁) between rounds.
func Block(ctr [4]uint32, key [2]uint32) [4]uint32 {
	c, k := ctr, key
	for r := 0; r < Rounds; r++ {
		if r > 0 {
			k[0] += w0
			k[1] += w1
		}
		hi0, lo0 := bits.Mul32(m0, c[0])
		hi1, lo1 := bits.Mul32(m1, c[2])
		c = [4]uint32{hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0}
	}
	return c
}

// Index is the interaction sample for slot slot of coupling pair pair at
// optimisation step step: an index in [0, n) of the target population.
// Slot a·S + s is sample s of subsample set a. The counter is
// (step mod 2³², step div 2³², pair, slot div 4) under the key (seed mod 2³²,
// seed div 2³²); the word slot mod 4 of the block w is mapped to
// ⌊w·n / 2³²⌋ (Lemire's multiply-shift: no division, and a bias below
// n/2³², which is under 10⁻⁵ for populations up to 40,000 points).
func Index(seed, step uint64, pair, slot, n uint32) uint32 {
	hi, _ := bits.Mul32(Word(seed, step, pair, slot), n)
	return hi
}

// Word is the uniform 32-bit word that Index maps to slot slot's sample:
// word slot mod 4 of the block of the counter (step mod 2³², step div 2³²,
// pair, slot div 4) under the key (seed mod 2³², seed div 2³²).
func Word(seed, step uint64, pair, slot uint32) uint32 {
	w := Block([4]uint32{uint32(step), uint32(step >> 32), pair, slot >> 2}, [2]uint32{uint32(seed), uint32(seed >> 32)})
	return w[slot&3]
}
