// Package fuzzcheck holds the checks that every reader's fuzz target makes
// (npz, snapshot, safetensors, modelfile, couplings, h5ad): a malformed file
// must never make the reader allocate from a size it has not checked against
// the bytes present; and NPY, which forges the .npy members of such files.
// Only tests import it.
package fuzzcheck

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
)

// PerByte is the allocation allowed per input byte for binary formats.
// Decoding widens values (a uint8 or bool becomes an int64 or float64: 8
// bytes per input byte), raw bytes are held once and growing buffers copy
// themselves (at most about 2×), so an honest reader stays well inside; one
// that allocates a declared length before checking it allocates what the
// field claims, which the fuzzer makes far larger.
const PerByte = 64

// Limit is the most a reader may allocate for n bytes of input: perByte
// bytes per input byte plus 1 MiB for fixed costs (opening the file, zip and
// flate state, the fuzzing engine's own allocations between ReadMemStats
// calls).
func Limit(n int64, perByte uint64) uint64 { return perByte*uint64(n) + 1<<20 }

// Alloc runs read and fails t if it allocated more than Limit(n, perByte).
func Alloc(t testing.TB, n int64, perByte uint64, read func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	read()
	runtime.ReadMemStats(&after)
	if got, limit := after.TotalAlloc-before.TotalAlloc, Limit(n, perByte); got > limit {
		t.Errorf("reading %d bytes of input allocated %d bytes, more than the %d allowed", n, got, limit)
	}
}

// InflatedSize is the size of a zip archive (an NPZ file) with each
// deflated entry counted at the size it really inflates to (up to 1 GiB):
// what a reader may allocate for, as opposed to what a header claims.
func InflatedSize(data []byte) int64 {
	n := int64(len(data))
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return n
	}
	for _, f := range zr.File {
		if f.Method == zip.Store {
			continue
		}
		if rc, err := f.Open(); err == nil {
			m, _ := io.Copy(io.Discard, io.LimitReader(rc, 1<<30))
			rc.Close()
			n += m
		}
	}
	return n
}

// Dir is a directory for the files of a fuzz target: in /dev/shm where there
// is one (a file written and synced per input is then cheap), else the
// test's temporary directory.
func Dir(f *testing.F) string {
	if dir, err := os.MkdirTemp("/dev/shm", "jkonet-fuzz-"); err == nil {
		f.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return f.TempDir()
}

// Error fails t unless err is one line that starts with "path: " and then
// one of the prefixes that say where the fault is (a field, an array, ...).
func Error(t testing.TB, err error, path string, prefixes ...string) {
	t.Helper()
	msg := err.Error()
	if strings.ContainsAny(msg, "\n\r") {
		t.Errorf("error on several lines: %q", msg)
	}
	rest, ok := strings.CutPrefix(msg, path+": ")
	if !ok {
		t.Fatalf("error %q does not start with the path", msg)
	}
	for _, p := range prefixes {
		if strings.HasPrefix(rest, p) {
			return
		}
	}
	t.Errorf("error %q does not say where the fault is (want a prefix among %q)", msg, prefixes)
}

// NPY is a version 1.0 .npy stream of the header dict and the raw data
// bytes (which need not match it), the header padded as NumPy pads it: to a
// multiple of 64 bytes, ending in a newline. Tests forge NPZ members with
// it.
func NPY(dict string, data []byte) []byte {
	pad := (64 - (10+len(dict)+1)%64) % 64
	dict += strings.Repeat(" ", pad) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(dict)))
	b.WriteString(dict)
	b.Write(data)
	return b.Bytes()
}
