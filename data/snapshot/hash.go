package snapshot

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
)

// Hash is a fingerprint of the data a model or couplings are computed from:
// the SHA-256 of the dimension, then every row's time, coordinates and id
// (float64 bits and int64, little-endian), in row order. Two sets with the
// same rows in the same order hash alike whatever file they came from; DT
// and Meta do not enter.
func (s *Set) Hash() string {
	h := sha256.New()
	var buf [8]byte
	put := func(u uint64) {
		binary.LittleEndian.PutUint64(buf[:], u)
		h.Write(buf[:])
	}
	put(uint64(s.D))
	for i := range s.T {
		put(math.Float64bits(s.T[i]))
		for _, x := range s.Row(i) {
			put(math.Float64bits(x))
		}
		if s.ID != nil {
			put(uint64(s.ID[i]))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
