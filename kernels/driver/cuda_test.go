package driver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"
)

// The kernel argument structs of kernels/selftest.cu: 8-byte fields only,
// so the Go layout is the C one.
type blockSumArgs struct {
	in, out DevicePtr
	n       int64
}

type axpyArgs struct {
	x, y DevicePtr
	a    float64
	n    int64
}

type divergeArgs struct {
	out    DevicePtr
	unused int64
}

const selftestPTX = "../selftest.sm90.ptx"

func checkOneLine(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	if s := err.Error(); s == "" || strings.ContainsAny(s, "\r\n") {
		t.Errorf("error is not one non-empty line: %q", s)
	}
}

func TestOpenMissingLibrary(t *testing.T) {
	path := filepath.Join(t.TempDir(), "libcuda-absent.so.1")
	d, err := Open(path)
	if d != nil {
		t.Fatal("Open returned a driver for a missing library")
	}
	checkOneLine(t, err)
	if want := "cannot load the CUDA driver " + path + ": "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
	t.Log(err)
}

func TestOpenFromEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "libcuda-from-env.so")
	t.Setenv(LibraryEnv, path)
	_, err := Open("")
	checkOneLine(t, err)
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
}

func TestOpenMissingSymbol(t *testing.T) {
	// A library that loads but is no CUDA driver.
	_, err := Open("libc.so.6")
	if err != nil && strings.HasPrefix(err.Error(), "cannot load") {
		t.Skipf("libc.so.6 does not load here: %v", err)
	}
	checkOneLine(t, err)
	if !strings.Contains(err.Error(), "lacks cuInit") {
		t.Errorf("error %q does not name cuInit", err)
	}
	t.Log(err)
}

func TestErrorText(t *testing.T) {
	e := &Error{Call: "cuMemAlloc_v2", Code: ErrOutOfMemory, Name: "CUDA_ERROR_OUT_OF_MEMORY", Description: "out of memory"}
	if got, want := e.Error(), "cuMemAlloc_v2: out of memory (CUDA_ERROR_OUT_OF_MEMORY)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	e.Detail = "line one\n\n  line two\n"
	if got, want := e.Error(), "cuMemAlloc_v2: out of memory (CUDA_ERROR_OUT_OF_MEMORY): line one; line two"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := (&Error{Call: "cuInit", Code: 12345}).Error(), "cuInit: CUresult 12345"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	wrapped := fmt.Errorf("training: %w", e)
	var ce *Error
	if !errors.As(wrapped, &ce) || ce != e {
		t.Error("errors.As does not find the *Error")
	}
	if !IsCode(wrapped, ErrOutOfMemory) || IsCode(wrapped, ErrNoDevice) || IsCode(errors.New("x"), ErrOutOfMemory) {
		t.Error("IsCode is wrong")
	}
}

func TestDim3(t *testing.T) {
	if got := (Dim3{X: 7}).norm(); got != (Dim3{7, 1, 1}) {
		t.Errorf("Dim3{X: 7} is %v", got)
	}
	if got := (Dim3{2, 3, 4}).norm(); got != (Dim3{2, 3, 4}) {
		t.Errorf("Dim3{2,3,4} is %v", got)
	}
	if p := DevicePtr(4096).Add(24); p != 4120 {
		t.Errorf("Add: %d", p)
	}
}

// readPTX reads a committed PTX file of the kernels directory.
func readPTX(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the self-test kernels: %v", err)
	}
	return b
}

// blockSumInput is n integer-valued doubles, so that every order of
// summation is exact.
func blockSumInput(n int) []float64 {
	in := make([]float64, n)
	for i := range in {
		in[i] = float64((i*7919)%2001 - 1000)
	}
	return in
}

// wantBlockSums is what selftest_block_sum writes: block b sums the elements
// its threads visit in a grid-stride loop.
func wantBlockSums(in []float64, grid, block int) []float64 {
	out := make([]float64, grid)
	for i, v := range in {
		out[i/block%grid] += v
	}
	return out
}

// runBlockSum launches selftest_block_sum (grid 7 × block 256 over 100003
// elements) reps times and checks every result exactly.
func runBlockSum(t *testing.T, c *Context, mod *Module, reps int) {
	t.Helper()
	const n, grid, block = 100003, 7, 256
	f, err := mod.Function("selftest_block_sum")
	if err != nil {
		t.Fatal(err)
	}
	if f.Name() != "selftest_block_sum" {
		t.Errorf("Name() = %q", f.Name())
	}
	if err := f.SetMaxDynamicSharedMemory(block * 8); err != nil {
		t.Fatal(err)
	}
	in := blockSumInput(n)
	want := wantBlockSums(in, grid, block)
	dIn, err := c.Alloc(n * 8)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Free(dIn)
	dOut, err := c.Alloc(grid * 8)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Free(dOut)
	if err := CopyToDevice(c, dIn, in); err != nil {
		t.Fatal(err)
	}
	for r := 0; r < reps; r++ {
		if err := c.Memset(dOut, grid*8); err != nil {
			t.Fatal(err)
		}
		args := blockSumArgs{in: dIn, out: dOut, n: n}
		if err := f.Launch(Dim3{X: grid}, Dim3{X: block}, block*8, unsafe.Pointer(&args)); err != nil {
			t.Fatal(err)
		}
		if err := c.Synchronize(); err != nil {
			t.Fatal(err)
		}
		got := make([]float64, grid)
		if err := CopyFromDevice(c, got, dOut); err != nil {
			t.Fatal(err)
		}
		for b := range want {
			if got[b] != want[b] {
				t.Fatalf("repetition %d: block %d sum %v, want %v", r, b, got[b], want[b])
			}
		}
	}
}
