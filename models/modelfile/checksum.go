package modelfile

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/jkonet-gpu/jkonet-gpu/data/safetensors"
)

// checksumKey is the metadata key of the content checksum, "sha256:<hex>".
const checksumKey = "checksum"

// checksum is the SHA-256 of a file's content: every metadata key and value
// but the checksum itself, then every tensor's name, shape and values, keys
// and names in sorted order, each string and list length-prefixed, numbers as
// little-endian 64-bit words. A flipped bit in a tensor still decodes to a
// finite number, so only this tells a damaged checkpoint from a good one.
func checksum(tensors map[string]safetensors.Tensor, meta map[string]string) string {
	h := sha256.New()
	var buf [8]byte
	word := func(u uint64) {
		binary.LittleEndian.PutUint64(buf[:], u)
		h.Write(buf[:])
	}
	str := func(s string) {
		word(uint64(len(s)))
		h.Write([]byte(s))
	}
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		if k != checksumKey {
			str(k)
			str(meta[k])
		}
	}
	for _, name := range slices.Sorted(maps.Keys(tensors)) {
		t := tensors[name]
		str(name)
		word(uint64(len(t.Shape)))
		for _, n := range t.Shape {
			word(uint64(n))
		}
		word(uint64(len(t.Data)))
		for _, v := range t.Data {
			word(math.Float64bits(v))
		}
		word(uint64(len(t.Int)))
		for _, v := range t.Int {
			word(uint64(v))
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// verifyChecksum checks the checksum of a file that has one; files written
// before checksums existed have none and are accepted.
func verifyChecksum(tensors map[string]safetensors.Tensor, meta map[string]string) error {
	want, ok := meta[checksumKey]
	if !ok {
		return nil
	}
	if got := checksum(tensors, meta); got != want {
		return fmt.Errorf("metadata %q: the content does not match the checksum (the file is damaged or was edited): %.19s…, recorded %.19s…", checksumKey, got, want)
	}
	return nil
}
