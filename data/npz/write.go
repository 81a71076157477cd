package npz

import (
	"archive/zip"
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/jkonet-gpu/jkonet-gpu/internal/atomicfile"
)

// zipTime is the modification time of every entry. It is fixed (at the
// earliest time a zip can store) so that the same arrays always give
// byte-identical files.
var zipTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// maxRank is NumPy's limit on the number of dimensions.
const maxRank = 64

// WriteFile writes arch to path like np.savez, atomically: on any error the
// file is left as it was.
func WriteFile(path string, arch Archive) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		if err := Write(w, arch); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	})
}

// Write writes arch like np.savez: one uncompressed NAME.npy entry per
// array, in order, with version 1.0 headers. Supported dtypes are "<f8"
// (data in Float), "<i8" and "|u1" (data in Int).
func Write(w io.Writer, arch Archive) error {
	zw := zip.NewWriter(w)
	seen := map[string]bool{}
	for _, e := range arch {
		if err := checkWritable(e, seen); err != nil {
			return fmt.Errorf("array %q: %w", e.Name, err)
		}
		fh := &zip.FileHeader{Name: e.Name + ".npy", Method: zip.Store, Modified: zipTime}
		fh.SetMode(0o644)
		ew, err := zw.CreateHeader(fh)
		if err != nil {
			return fmt.Errorf("array %q: %w", e.Name, err)
		}
		if err := writeArray(ew, e.Array); err != nil {
			return fmt.Errorf("array %q: write failed: %w", e.Name, err)
		}
	}
	return zw.Close()
}

func checkWritable(e Entry, seen map[string]bool) error {
	if e.Name == "" {
		return errors.New("empty array name")
	}
	if seen[e.Name] {
		return errors.New("name used twice")
	}
	seen[e.Name] = true
	a := e.Array
	if a == nil {
		return errors.New("no array")
	}
	if len(a.Shape) > maxRank {
		return fmt.Errorf("rank %d exceeds NumPy's limit of %d", len(a.Shape), maxRank)
	}
	for _, s := range a.Shape {
		if s < 0 {
			return fmt.Errorf("negative dimension in shape %s", FormatShape(a.Shape))
		}
	}
	var have int
	switch a.DType {
	case "<f8":
		have = len(a.Float)
	case "<i8":
		have = len(a.Int)
	case "|u1":
		have = len(a.Int)
		for i, v := range a.Int {
			if v < 0 || v > math.MaxUint8 {
				return fmt.Errorf("value %d at index %d does not fit in uint8", v, i)
			}
		}
	default:
		return fmt.Errorf("cannot write dtype %q (only <f8, <i8, |u1)", a.DType)
	}
	if have != a.Len() {
		return fmt.Errorf("shape %s needs %d values, got %d", FormatShape(a.Shape), a.Len(), have)
	}
	return nil
}

func writeArray(w io.Writer, a *Array) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.Write(formatHeader(a.DType, a.Shape))
	// bufio errors are sticky: the Flush below reports any failed write.
	var b [8]byte
	switch a.DType {
	case "<f8":
		for _, v := range a.Float {
			binary.LittleEndian.PutUint64(b[:], math.Float64bits(v))
			bw.Write(b[:])
		}
	case "<i8":
		for _, v := range a.Int {
			binary.LittleEndian.PutUint64(b[:], uint64(v))
			bw.Write(b[:])
		}
	case "|u1":
		for _, v := range a.Int {
			bw.WriteByte(byte(v))
		}
	}
	return bw.Flush()
}
