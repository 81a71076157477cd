package modelfile

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"

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

// versionKey is the metadata key of the format's version (FormatVersion
// when written). Files of version 2 and later must carry a checksum, so
// deleting it does not turn the check off; files without a version were
// written before it, and may have no checksum.
const versionKey = "format_version"

// FormatVersion is the version of the model file format written here:
// 1 (no version key) had an optional checksum, 2 requires it.
const FormatVersion = 2

// Warn receives, as one line naming the file, what Load accepts with a
// doubt: a file of version 1 without a checksum, whose content cannot be
// checked. nil discards it.
var Warn func(string)

// verifyChecksum checks the checksum of a file: required from format
// version 2 on; a file without a version (written before checksums were
// required) may have none, and is accepted with a warning.
func verifyChecksum(path string, tensors map[string]safetensors.Tensor, meta map[string]string) error {
	version, versioned := meta[versionKey]
	if versioned {
		if v, err := strconv.Atoi(version); err != nil || v < 2 {
			return fmt.Errorf("metadata %q: expected a format version ≥ 2, got %q", versionKey, version)
		} else if v > FormatVersion {
			return fmt.Errorf("metadata %q: format version %d is newer than this build reads (%d); update jkonet-gpu", versionKey, v, FormatVersion)
		}
	}
	want, ok := meta[checksumKey]
	if !ok {
		if versioned {
			return fmt.Errorf("metadata %q: missing, which a file of format version %s must have (it was removed: the content cannot be checked)", checksumKey, version)
		}
		if Warn != nil {
			Warn(path + ": written before checksums (no format version): its content cannot be checked")
		}
		return nil
	}
	if got := checksum(tensors, meta); got != want {
		return fmt.Errorf("metadata %q: the content does not match the checksum (the file is damaged or was edited): %.19s…, recorded %.19s…", checksumKey, got, want)
	}
	return nil
}
