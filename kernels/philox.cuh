// philox.cuh: Philox4x32-10 and the interaction-sample index, the same
// function as the Go package philox (philox.Block and philox.Index), so
// that every backend draws the same samples.
#ifndef JK_PHILOX_CUH
#define JK_PHILOX_CUH

#include "jk_cuda.h"

__device__ __forceinline__ uint32_t jk_mulhi(uint32_t a, uint32_t b) {
  return (uint32_t)(((uint64_t)a * (uint64_t)b) >> 32);
}

// Ten rounds of (c0, c1, c2, c3) <- (hi(m1 c2) ^ c1 ^ k0, lo(m1 c2),
// hi(m0 c0) ^ c3 ^ k1, lo(m0 c0)), the key bumped by (w0, w1) between rounds;
// returns word `word` of the block.
__device__ __forceinline__ uint32_t jk_philox_word(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                                                   uint32_t k0, uint32_t k1, uint32_t word) {
  for (int r = 0; r < 10; r++) {
    if (r > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    uint32_t hi0 = jk_mulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
    uint32_t hi1 = jk_mulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
    uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  return word == 0 ? c0 : word == 1 ? c1 : word == 2 ? c2 : c3;
}

// The sample index in [0, n) for (seed, step, pair, slot): the counter
// (step lo, step hi, pair, slot/4) under the key (seed lo, seed hi), word
// slot%4 mapped by multiply-shift (philox.Index).
__device__ __forceinline__ uint32_t jk_sample_index(uint64_t seed, uint64_t step, uint32_t pair, uint32_t slot,
                                                    uint32_t n) {
  uint32_t w = jk_philox_word((uint32_t)step, (uint32_t)(step >> 32), pair, slot >> 2, (uint32_t)seed,
                              (uint32_t)(seed >> 32), slot & 3u);
  return jk_mulhi(w, n);
}

#endif  // JK_PHILOX_CUH
