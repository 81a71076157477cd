package collective

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// blocked is a host group whose sums block until released: a rank whose
// peer died, on a collective that cannot abort (Open MPI).
type blocked struct {
	Single
	release chan struct{}
}

func (b blocked) Name() string { return MPI }
func (b blocked) Rank() int    { return 2 }
func (b blocked) AllReduceSum([]float64) error {
	<-b.release
	return errors.New("released")
}

// TestWatchdogFatal: a sum on a group that cannot abort, blocked past the
// timeout, calls Fatal once with the *TimeoutError (while the sum still
// blocks); a sum within the timeout does not; Timeout 0 never fires.
func TestWatchdogFatal(t *testing.T) {
	g := blocked{release: make(chan struct{})}
	fatal := make(chan *TimeoutError, 2)
	w := &Watchdog{Timeout: 50 * time.Millisecond, Group: g, Fatal: func(e *TimeoutError) {
		fatal <- e
		close(g.release) // a real Fatal exits; this one lets the sum return
	}}
	if err := w.Do(func() error { return nil }); err != nil {
		t.Fatalf("a prompt sum: %v", err)
	}
	start := time.Now()
	err := w.Do(func() error { return g.AllReduceSum(nil) })
	var te *TimeoutError
	if !errors.As(err, &te) || te.Aborted || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("after %v: %v", time.Since(start), err)
	}
	want := "rank 2: no mpi sum completed within --collective-timeout 50ms: another rank died or hung (its own line or the launcher's says which); the process exits"
	if e := <-fatal; e.Error() != want || err.Error() != want {
		t.Errorf("Fatal got %q, Do %q, want %q", e, err, want)
	}
	if err := w.Do(func() error { t.Error("called after the watchdog fired"); return nil }); !errors.As(err, &te) {
		t.Errorf("after firing: %v", err)
	}
	if len(fatal) != 0 {
		t.Error("Fatal called twice")
	}
	off := &Watchdog{Group: g, Fatal: func(*TimeoutError) { t.Error("fired with Timeout 0") }}
	if err := off.Do(func() error { time.Sleep(20 * time.Millisecond); return nil }); err != nil {
		t.Error(err)
	}
}

// TestWatchdogAbortsNCCL: a device sum whose peer died (the stand-in
// libnccl's HANG_COUNT sum, which waits until ncclCommAbort) is ended by the
// watchdog through ncclCommAbort from its own goroutine: the sum returns
// within the bound, Do returns a *TimeoutError saying the communicator was
// aborted, Fatal is not called and Close then does nothing.
func TestWatchdogAbortsNCCL(t *testing.T) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler to build the stand-in libnccl")
	}
	lib := filepath.Join(t.TempDir(), "libnccl-fake.so")
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-O1", "-o", lib, "testdata/fakenccl.c").CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	l, err := OpenNCCL(lib)
	if err != nil {
		t.Fatal(err)
	}
	id, err := l.UniqueID()
	if err != nil {
		t.Fatal(err)
	}
	comm, err := l.NewComm(id, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	const hangCount = 12345
	hostBuffer = make([]float64, hangCount)
	addr := uint64(uintptr(unsafe.Pointer(&hostBuffer[0])))
	w := &Watchdog{Timeout: 100 * time.Millisecond, Group: comm, Fatal: func(*TimeoutError) { t.Error("Fatal on an NCCL communicator") }}
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- w.Do(func() error { return comm.AllReduceSumDevice(addr, hangCount, 0) }) }()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the sum still waits 10 s after a 100 ms timeout")
	}
	var te *TimeoutError
	if !errors.As(err, &te) || !te.Aborted || strings.Contains(err.Error(), "\n") {
		t.Fatalf("after %v: %v", time.Since(start), err)
	}
	if want := "rank 0: no nccl sum completed within --collective-timeout 100ms: another rank died or hung (its own line or the launcher's says which); the communicator was aborted"; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	t.Logf("the aborted sum returned %v after the start", time.Since(start))
	if err := comm.Close(); err != nil {
		t.Errorf("Close after Abort: %v", err)
	}
}
