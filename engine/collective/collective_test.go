package collective

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/jkonet-gpu/jkonet-gpu/kernels/driver"
)

func TestChoose(t *testing.T) {
	noNCCL := errors.New("cannot load NCCL libnccl.so.2")
	for _, c := range []struct {
		want          string
		size          int
		byMPI, cuda   bool
		ncclErr       error
		got, errMatch string
	}{
		{want: Auto, size: 1, got: None},
		{want: Auto, size: 1, cuda: true, got: None},
		{want: Auto, size: 4, byMPI: true, got: MPI},
		{want: Auto, size: 4, byMPI: true, cuda: true, got: NCCL},
		{want: Auto, size: 4, byMPI: true, cuda: true, ncclErr: noNCCL, got: MPI},
		{want: Auto, size: 1, byMPI: true, got: MPI},
		{want: Auto, size: 4, errMatch: "--collective auto: 4 ranks but nothing can sum across the ranks (not launched by mpirun)"},
		{want: Auto, size: 2, cuda: true, ncclErr: noNCCL, errMatch: "NCCL is unavailable (cannot load NCCL libnccl.so.2)"},
		{want: None, size: 1, got: None},
		{want: None, size: 3, errMatch: "--collective none: 3 ranks were launched"},
		{want: MPI, size: 2, got: MPI},
		{want: NCCL, size: 2, cuda: true, got: NCCL},
		{want: NCCL, size: 2, errMatch: "--collective nccl: NCCL sums GPU buffers"},
		{want: NCCL, size: 2, cuda: true, ncclErr: noNCCL, errMatch: "--collective nccl: cannot load NCCL"},
		{want: "gloo", size: 2, errMatch: `--collective: expected auto, none, mpi or nccl, got "gloo"`},
	} {
		offers := []Offer{{Name: MPI}} // the CPU's
		if c.cuda {
			offers = []Offer{{Name: NCCL, Unavailable: c.ncclErr}, {Name: MPI}}
		}
		got, err := Choose(c.want, c.size, c.byMPI, offers)
		if c.errMatch != "" {
			if err == nil || !strings.Contains(err.Error(), c.errMatch) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%+v: got %q, %v; want one line with %q", c, got, err, c.errMatch)
			}
			continue
		}
		if err != nil || got != c.got {
			t.Errorf("%+v: got %q, %v; want %q", c, got, err, c.got)
		}
	}
}

func TestSingle(t *testing.T) {
	var s Collective = Single{}
	buf := []float64{1.5, -2}
	if err := s.AllReduceSum(buf); err != nil || buf[0] != 1.5 || buf[1] != -2 || s.Rank() != 0 || s.Size() != 1 || s.Name() != None {
		t.Fatalf("single: %v %v rank %d size %d %s", buf, err, s.Rank(), s.Size(), s.Name())
	}
}

// freeAddress is a loopback address with a port nothing listens on.
func freeAddress(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestRendezvous(t *testing.T) {
	addr := freeAddress(t)
	var id [UniqueIDBytes]byte
	for i := range id {
		id[i] = byte(255 - i)
	}
	const size = 4
	got := make([][UniqueIDBytes]byte, size)
	errs := make([]error, size)
	var wg sync.WaitGroup
	for r := size - 1; r >= 0; r-- { // the others dial before rank 0 listens
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := [UniqueIDBytes]byte{}
			if r == 0 {
				mine = id
			}
			got[r], errs[r] = Rendezvous(addr, Hello{Rank: r, Size: size, Token: "job"}, mine, 10*time.Second, nil)
		}()
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	for r := range size {
		if errs[r] != nil || got[r] != id {
			t.Errorf("rank %d: %v, id %x…", r, errs[r], got[r][:4])
		}
	}
}

func TestRendezvousTimeout(t *testing.T) {
	_, err := Rendezvous(freeAddress(t), Hello{Rank: 2, Size: 3}, [UniqueIDBytes]byte{}, 300*time.Millisecond, nil)
	if err == nil || !strings.Contains(err.Error(), "rank 2 got no id from rank 0") {
		t.Fatalf("got %v, want a timeout naming the rank", err)
	}
	_, err = Rendezvous("nohostport", Hello{Rank: 0, Size: 2}, [UniqueIDBytes]byte{}, time.Second, nil)
	if err == nil || !strings.Contains(err.Error(), `coordinator "nohostport": expected host:port`) {
		t.Fatalf("got %v", err)
	}
}

// TestNCCLBinding drives the binding against testdata/fakenccl.c, a
// stand-in library with NCCL's signatures on host memory: it checks that the
// id goes by pointer to ncclCommInitRankScalable and that ncclAllReduce gets
// the count, ncclFloat64, ncclSum, in place, on the default stream.
func TestNCCLBinding(t *testing.T) {
	lib := buildFakeNCCL(t, "libnccl-fake.so")
	l, err := OpenNCCL(lib)
	if err != nil {
		t.Fatal(err)
	}
	if l.Version() != 22307 {
		t.Errorf("version %d, want 22307", l.Version())
	}
	id, err := l.UniqueID()
	if err != nil {
		t.Fatal(err)
	}
	comm, err := l.NewComm(id, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	// The stand-in takes host addresses for device pointers: a package
	// variable's buffer is on the heap, which does not move.
	hostBuffer = []float64{1, 2.5, -3, 7} // the last is past the count
	buf, addr := hostBuffer, uint64(uintptr(unsafe.Pointer(&hostBuffer[0])))
	var d Device = comm
	if err := d.AllReduceSumDevice(addr, 3, 0); err != nil {
		t.Fatal(err)
	}
	if want := []float64{3, 7.5, -9, 7}; !slices.Equal(buf, want) || d.Rank() != 1 || d.Size() != 3 {
		t.Errorf("sum over 3 stand-in ranks: %v rank %d size %d, want %v rank 1 size 3", buf, d.Rank(), d.Size(), want)
	}
	if err := d.AllReduceSumDevice(addr, 1, 1); err == nil || !strings.Contains(err.Error(), "ncclAllReduce: invalid argument (NCCL error 4)") {
		t.Errorf("a stream the stand-in refuses: %v", err)
	}
	if err := comm.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.NewComm([UniqueIDBytes]byte{}, 0, 2); err == nil {
		t.Error("the stand-in accepted an id it did not make")
	}
	// NCCL 2.21.5, which lacks ncclCommInitRankScalable: one line naming
	// the version found.
	old := buildFakeNCCL(t, "libnccl-2.21.so", "-DFAKE_VERSION=22105", "-DNO_SCALABLE")
	if _, err := OpenNCCL(old); err == nil || !strings.HasPrefix(err.Error(), "NCCL "+old+" is 2.21.5; jkonet-gpu needs NCCL 2.23.0 or later") || strings.Contains(err.Error(), "\n") {
		t.Errorf("NCCL 2.21.5: %v", err)
	}
	if _, err := OpenNCCL("/nonexistent/libnccl.so.2"); err == nil || !strings.Contains(err.Error(), "cannot load NCCL /nonexistent/libnccl.so.2") {
		t.Errorf("missing library: %v", err)
	}
}

// buildFakeNCCL compiles testdata/fakenccl.c, the stand-in libnccl, with
// the C compiler and flags into name in a temporary folder and returns its
// path; it skips the test where there is no C compiler.
func buildFakeNCCL(t *testing.T, name string, flags ...string) string {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler to build the stand-in libnccl")
	}
	lib := filepath.Join(t.TempDir(), name)
	args := append(append([]string{"-shared", "-fPIC", "-O1"}, flags...), "-o", lib, "testdata/fakenccl.c")
	if out, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	return lib
}

var hostBuffer []float64

// TestNCCLOneRank sums a device buffer on a one-rank communicator of GPU 0
// where libnccl.so.2 and a GPU are present (one GPU cannot host two ranks).
func TestNCCLOneRank(t *testing.T) {
	l, err := OpenNCCL(os.Getenv(NCCLLibraryEnv))
	if err != nil {
		t.Skipf("no NCCL: %v", err)
	}
	drv, err := driver.Open("")
	if err == nil {
		err = drv.Init()
	}
	if err != nil || drv.IsEmulator() {
		t.Skipf("no GPU: %v", err)
	}
	dev, err := drv.Device(0)
	if err != nil {
		t.Skipf("no GPU: %v", err)
	}
	ctx, err := dev.PrimaryContext()
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Release()
	want := []float64{1, -2, 0.5, 1e300}
	got := make([]float64, len(want))
	err = ctx.Do(func() error {
		comm, err := l.NewSingleComm(0)
		if err != nil {
			return err
		}
		defer comm.Close()
		ptr, err := ctx.Alloc(8 * uint64(len(want)))
		if err != nil {
			return err
		}
		defer ctx.Free(ptr)
		if err := driver.CopyToDevice(ctx, ptr, want); err != nil {
			return err
		}
		if err := comm.AllReduceSumDevice(uint64(ptr), len(want), 0); err != nil {
			return err
		}
		if err := ctx.Synchronize(); err != nil {
			return err
		}
		return driver.CopyFromDevice(ctx, got, ptr)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("one-rank sum %v, want %v", got, want)
	}
	t.Logf("NCCL %d on one rank", l.Version())
}
