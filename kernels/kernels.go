// Package kernels holds the CUDA C++ sources of jkonet-gpu's device code,
// the PTX that nvcc builds from them (make kernels; committed and embedded
// here, so the default build needs neither the CUDA toolkit nor cgo) and,
// in emu/, the CPU emulator that runs the same sources on machines without
// a GPU (make emulator).
//
// Each PTX file begins with the line
//
//	// jkonet-module: NAME sha256 HEX ptx-sha256 BODY
//
// where HEX is the SHA-256 of the module's sources: the Headers, then
// NAME.cu, and BODY that of the PTX after this line. A test recomputes both,
// so a PTX file that was not rebuilt after its source changed, or whose
// body was edited by hand, fails the build; where nvcc is installed, another
// rebuilds the PTX and compares the bytes. The emulator refuses PTX that was
// not built from the sources it was compiled from.
package kernels

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
)

//go:embed *.ptx step.fatbin step.fatbin.hash
var ptxFiles embed.FS

// Headers are the sources every module includes, in the order they enter the
// hash (the Makefile's KERNEL_HEADERS).
var Headers = []string{"jk_cuda.h", "philox.cuh"}

// Modules are the kernel modules (the Makefile's KERNEL_MODULES).
var Modules = []string{"selftest", "step"}

// Archs are the compute capabilities PTX is built for, newest first: the
// driver compiles PTX for its GPU, so compute_90 serves Hopper and compute_80
// every GPU of compute capability 8.0 or newer.
var Archs = []int{90, 80}

// PTX returns the PTX of module for a GPU of compute capability
// major.minor: the newest of Archs that the GPU can run.
func PTX(module string, major, minor int) ([]byte, error) {
	cc := 10*major + minor
	for _, a := range Archs {
		if cc >= a {
			return ptxFiles.ReadFile(fmt.Sprintf("%s.sm%d.ptx", module, a))
		}
	}
	return nil, fmt.Errorf("compute capability %d.%d: the kernels need %d.%d or newer", major, minor, Archs[len(Archs)-1]/10, Archs[len(Archs)-1]%10)
}

// SASSArchs are the GPUs whose machine code (SASS) the training kernels'
// fatbin holds, so that they run without JIT compilation; it also holds
// compute_90 PTX, which the driver compiles for newer GPUs. SASS for sm_80
// runs on every 8.x GPU.
var SASSArchs = []int{80, 86, 89, 90}

// Fatbin returns the fatbin of the training kernels (make kernels:
// step.fatbin), and its header line: "// jkonet-module: step sha256 HEX
// fatbin-sha256 HEX", the hashes of the sources and of the fatbin.
func Fatbin() (fatbin []byte, header string, err error) {
	if fatbin, err = ptxFiles.ReadFile("step.fatbin"); err != nil {
		return nil, "", err
	}
	h, err := ptxFiles.ReadFile("step.fatbin.hash")
	return fatbin, string(bytes.TrimSpace(h)), err
}

// FatbinEntry is one image in a fatbin: SASS (an ELF cubin) or PTX, for an
// architecture (80 for sm_80 or compute_80).
type FatbinEntry struct {
	PTX  bool
	Arch int
}

// FatbinEntries lists the images of a fatbin (the CUDA fatbin container:
// a 16-byte header with magic 0xBA55ED50 and the size of what follows, then
// entries, each a header holding its kind, its header and payload sizes and
// its architecture, then the payload).
func FatbinEntries(fb []byte) ([]FatbinEntry, error) {
	le := binary.LittleEndian
	if len(fb) < 16 || le.Uint32(fb) != 0xBA55ED50 {
		return nil, errors.New("not a CUDA fatbin (no magic 0xBA55ED50)")
	}
	hs, size := uint64(le.Uint16(fb[6:])), le.Uint64(fb[8:])
	if hs < 16 || hs+size > uint64(len(fb)) {
		return nil, fmt.Errorf("fatbin of %d bytes declares %d", len(fb), hs+size)
	}
	var out []FatbinEntry
	for off := hs; off < hs+size; {
		if off+32 > hs+size {
			return nil, fmt.Errorf("fatbin entry at %d is cut short", off)
		}
		kind, eh, payload := le.Uint16(fb[off:]), uint64(le.Uint32(fb[off+4:])), le.Uint64(fb[off+8:])
		if kind != 1 && kind != 2 || eh < 32 || payload > hs+size-off-eh {
			return nil, fmt.Errorf("fatbin entry at %d: kind %d, header %d, payload %d bytes", off, kind, eh, payload)
		}
		out = append(out, FatbinEntry{PTX: kind == 1, Arch: int(le.Uint32(fb[off+28:]))})
		off += eh + payload
	}
	return out, nil
}

// SourceHash reads the module and source hash recorded in the first line of
// a PTX image.
func SourceHash(ptx []byte) (module, hash string, err error) {
	module, hash, _, err = header(ptx)
	return module, hash, err
}

// BodyHash reads the hash of the PTX body recorded in the first line of a
// PTX image, and returns the body (the image after that line).
func BodyHash(ptx []byte) (hash string, body []byte, err error) {
	_, _, hash, err = header(ptx)
	if err != nil {
		return "", nil, err
	}
	return hash, ptx[bytes.IndexByte(ptx, '\n')+1:], nil
}

func header(ptx []byte) (module, source, body string, err error) {
	line, _, _ := bufio.NewReader(bytes.NewReader(ptx)).ReadLine()
	if _, err := fmt.Sscanf(string(line), "// jkonet-module: %s sha256 %s ptx-sha256 %s", &module, &source, &body); err != nil ||
		len(source) != 64 || len(body) != 64 || !bytes.Contains(ptx, []byte("\n")) {
		return "", "", "", fmt.Errorf("PTX does not start with a \"// jkonet-module: NAME sha256 HEX ptx-sha256 HEX\" line: %q", line)
	}
	return module, source, body, nil
}
