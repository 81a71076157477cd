package main

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// addressLimitKB is the address space each child gets here (ulimit -v, in
// KiB): 2 GB, of which the Go runtime reserves over a gigabyte at start, so
// an input that makes the reader allocate a few hundred MB ends the process
// with Go's fatal "out of memory" unless the reader refuses it first.
const addressLimitKB = 2_000_000

// underAddressLimit runs the CLI (this test binary, see TestMain) in a
// child under an address-space limit of addressLimitKB, with env added.
func underAddressLimit(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command("/bin/sh", append([]string{"-c", `ulimit -v "$LIMIT_KB" && exec "$0" "$@"`, os.Args[0]}, args...)...)
	cmd.Env = append(append(os.Environ(), "JKONET_GPU_AS_CLI=1", "LIMIT_KB="+strconv.Itoa(addressLimitKB), "GOMAXPROCS=2"), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(120 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("jkonet-gpu %s: still running after 120 s", strings.Join(args, " "))
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// refusedInOneLine fails t unless a child's run was refused with one line
// naming the file and holding every string of want, with no trace of Go's
// out-of-memory death.
func refusedInOneLine(t *testing.T, status int, errOut, file string, want ...string) {
	t.Helper()
	if strings.Contains(errOut, "out of memory") || strings.Contains(errOut, "goroutine ") {
		t.Fatalf("the process ran out of memory instead of refusing the input (status %d):\n%.600s", status, errOut)
	}
	checkOneLineError(t, "under ulimit -v", status, errOut, append([]string{file}, want...))
}

// inflatingNPZ is a valid 2-snapshot NPZ of 7.6 MB (7.5 MB of it a stored
// incompressible array, so the bound relative to the archive's size lets it
// decode to about 1 GB) with a deflated member "junk" of 10^8 zero bytes:
// 100 MB of uint8 that decode to 800 MB of int64, more than 2 GB of
// address space leaves.
func inflatingNPZ(t *testing.T, path string) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, method uint16, descr, shape string, data ...[]byte) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name + ".npy", Method: method})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(npy(descr, shape, nil))
		for _, b := range data {
			w.Write(b)
		}
	}
	x, tt, _ := points2(6, 2)
	add("x", zip.Store, "<f8", "(12, 2)", f64(x...))
	add("t", zip.Store, "<f8", "(12,)", f64(tt...))
	pad := make([]byte, 7_500_000)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range pad {
		pad[i] = byte(r.Uint32())
	}
	add("pad", zip.Store, "|u1", "(7500000,)", pad)
	zeros := make([]byte, 1_000_000)
	junk := make([][]byte, 100)
	for i := range junk {
		junk[i] = zeros
	}
	add("junk", zip.Deflate, "|u1", "(100000000,)", junk...)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestMemoryBudgetUnderAddressLimit: inputs of a few MB that the bounds
// relative to their size let decode to hundreds of MB are refused in one
// line against the memory budget the machine leaves (here RLIMIT_AS), where
// Go would otherwise die with "fatal error: out of memory".
func TestMemoryBudgetUnderAddressLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 7.6 MB archive and runs children under ulimit -v")
	}
	if status, errOut := underAddressLimit(t, nil, "version"); status != 0 {
		t.Skipf("the CLI does not start under ulimit -v %d: %s", addressLimitKB, errOut)
	}
	dir := t.TempDir()

	t.Run("npz inflation", func(t *testing.T) {
		path := filepath.Join(dir, "inflating.npz")
		inflatingNPZ(t, path)
		status, errOut := underAddressLimit(t, nil, "info", "--data", path)
		refusedInOneLine(t, status, errOut, path, `array "junk"`, "of memory, more than the budget of", "RLIMIT_AS", "--max-memory")
	})

	t.Run("csv stream", func(t *testing.T) {
		// A FIFO that never ends, of short valid rows: each line is short,
		// the rows together are not.
		path := filepath.Join(dir, "rows.csv")
		if err := syscall.Mkfifo(path, 0o600); err != nil {
			t.Skip("no FIFO:", err)
		}
		go func() {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				return
			}
			defer f.Close()
			f.Write([]byte("t,x0,x1\n"))
			rows := bytes.Repeat([]byte("0,1,2\n1,3,4\n"), 1<<16)
			for {
				if _, err := f.Write(rows); err != nil {
					return // the reader has gone
				}
			}
		}()
		status, errOut := underAddressLimit(t, nil, "info", "--data", path)
		refusedInOneLine(t, status, errOut, path, "rows of 3 columns", "of memory, more than the budget of", "RLIMIT_AS")
	})
}

// h5adFixture copies data/h5ad/testdata/name to dir, lets edit change its
// bytes, and extends it with zeros (a sparse hole, costing no disk) to size
// bytes when size is larger: an HDF5 file may hold bytes past its data, and
// the reader's bounds relative to the file's size grow with them, so only
// the memory budget stands between such a file and the machine.
func h5adFixture(t *testing.T, dir, name string, size int64, edit func([]byte)) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "data", "h5ad", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(b)
	}
	path := filepath.Join(dir, strings.TrimSuffix(name, ".h5ad")+"-"+strconv.FormatInt(size, 10)+".h5ad")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if size > int64(len(b)) {
		if err := os.Truncate(path, size); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// replaceAll overwrites every occurrence of old in b with new (of the same
// length), failing t unless there are want of them.
func replaceAll(t *testing.T, b, old, new []byte, want int) {
	t.Helper()
	n := 0
	for i := 0; i+len(old) <= len(b); i++ {
		if bytes.Equal(b[i:i+len(old)], old) {
			copy(b[i:], new)
			n++
		}
	}
	if n != want {
		t.Fatalf("%d occurrences of % x, want %d", n, old, want)
	}
}

func le64(v ...uint64) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, x)
	}
	return b
}

// TestH5adUnderAddressLimit (issue 19): the h5ad kinds of memory blow-up,
// run as the CLI under ulimit -v (2 GB), each refused in one line naming
// the file and the dataset's path where Go would otherwise die with
// "fatal error: out of memory": the fixtures of data/h5ad/testdata as they
// are (refused by the bounds relative to the file's size), and the same
// kinds in files padded past their data, where the bounds allow gigabytes
// and the memory budget (a quarter of what RLIMIT_AS leaves) refuses them:
// a chunked X declared 2000 × 100000 float64 (1.6 GB) and never written in
// a 64 MB file; a CSR X of 4 × 50 million densified (1.6 GB) in an 8 MB
// file; 2000 strings each pointing at its own global heap collection of
// about 1.2 GB in a 1.2 GB file (before the collections were counted
// against the budget, the first one was read whole and the process died).
func TestH5adUnderAddressLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("runs children under ulimit -v")
	}
	if status, errOut := underAddressLimit(t, nil, "version"); status != 0 {
		t.Skipf("the CLI does not start under ulimit -v %d: %s", addressLimitKB, errOut)
	}
	dir := t.TempDir()
	budget := []string{"of memory, more than the budget of", "RLIMIT_AS", "--max-memory"}
	labels := []string{"--time-key", "label", "--time-order", "x"}
	for _, c := range []struct {
		name, fixture string
		size          int64
		edit          func([]byte)
		args, want    []string
	}{
		{"unwritten chunks", "huge_unwritten.h5ad", 0, nil, []string{"--time-key", "day"},
			[]string{": /X: shape [2000 1000] declares 16000000 bytes of which 16000000 were never written"}},
		{"wide csr", "wide_csr.h5ad", 0, nil, []string{"--time-key", "day"},
			[]string{": /X: sparse matrix of shape (4, 1000000) is too large to densify from a 23768-byte file"}},
		{"many heaps", "many_heaps.h5ad", 0, nil, labels,
			[]string{`: obs column "label" (/obs/label): string 2: global heap collections of more than 217184 bytes in all, more than the file holds`}},
		{"unwritten chunks padded", "huge_unwritten.h5ad", 64 << 20, func(b []byte) {
			replaceAll(t, b, le64(2000, 1000), le64(2000, 100_000), 2) // dims and maximum dims
		}, []string{"--time-key", "day"}, append([]string{": /X: decoding chunks of 1600000000 bytes: needs"}, budget...)},
		{"wide csr padded", "wide_csr.h5ad", 8 << 20, func(b []byte) {
			replaceAll(t, b, le64(4, 1_000_000), le64(4, 50_000_000), 1) // the shape attribute
		}, []string{"--time-key", "day"}, append([]string{": /X: sparse matrix of shape (4, 50000000) densified: needs"}, budget...)},
		{"many heaps padded", "many_heaps.h5ad", 1200 << 20, func(b []byte) {
			// Each forged collection now claims the file from its start on.
			n := 0
			for i := 0; i+40 <= len(b); i++ {
				if string(b[i:i+4]) == "GCOL" && string(b[i+32:i+40]) == "abcdefgh" {
					binary.LittleEndian.PutUint64(b[i+8:], uint64(1200<<20-i))
					n++
				}
			}
			if n != 2000 {
				t.Fatalf("%d forged collections, want 2000", n)
			}
		}, labels, append([]string{`: obs column "label" (/obs/label): string 0: global heap collection at address 19648 of 1258271552 bytes: needs`}, budget...)},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := h5adFixture(t, dir, c.fixture, c.size, c.edit)
			status, errOut := underAddressLimit(t, nil, append([]string{"info", "--data", path}, c.args...)...)
			refusedInOneLine(t, status, errOut, path+c.want[0], c.want[1:]...)
		})
	}
}
