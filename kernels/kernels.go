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
	"fmt"
)

//go:embed *.ptx
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
