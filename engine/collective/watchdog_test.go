package collective

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/jkonet-gpu/jkonet-gpu/internal/dlopen"
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
	lib := buildFakeNCCL(t, "libnccl-fake.so")
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

// initHangEnv, set to a stand-in libnccl's path, makes TestNCCLInitTimeout
// the child process whose init hangs under the default Fatal.
const initHangEnv = "JKONET_TEST_NCCL_INIT_HANG"

// TestNCCLInitTimeout: an init that waits for a rank that died after the
// rendezvous (the stand-in libnccl's init of 4321 ranks, which blocks until
// released) is bounded by --collective-timeout: Fatal gets the one-line
// *TimeoutError naming the init once, while the init still blocks, and a
// prompt init is not touched; with the default Fatal the process prints that
// line and exits with status 1 (a child process), instead of waiting forever.
func TestNCCLInitTimeout(t *testing.T) {
	const hangRanks = 4321
	if lib := os.Getenv(initHangEnv); lib != "" { // the child
		l, err := OpenNCCL(lib)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := l.UniqueID()
		_, err = l.NewCommWithin(id, 3, hangRanks, 100*time.Millisecond, nil)
		t.Fatalf("the init returned %v instead of ending the process", err)
	}
	lib := buildFakeNCCL(t, "libnccl-fake.so")
	l, err := OpenNCCL(lib)
	if err != nil {
		t.Fatal(err)
	}
	var release func()
	if _, err := dlopen.Open("the stand-in NCCL", lib, dlopen.Local, dlopen.Func{Name: "fakeReleaseInit", Fn: &release}); err != nil {
		t.Fatal(err)
	}
	id, err := l.UniqueID()
	if err != nil {
		t.Fatal(err)
	}
	comm, err := l.NewCommWithin(id, 1, 2, 100*time.Millisecond, func(e *TimeoutError) { t.Errorf("a prompt init: %v", e) })
	if err != nil || comm.Rank() != 1 || comm.Size() != 2 {
		t.Fatalf("a prompt init: %v", err)
	}
	time.Sleep(150 * time.Millisecond) // past the timeout: the watchdog stopped with the init
	comm.Close()

	fatal := make(chan *TimeoutError, 2)
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := l.NewCommWithin(id, 1, hangRanks, 100*time.Millisecond, func(e *TimeoutError) {
			fatal <- e
			release() // a real Fatal exits; this one lets the init return
		})
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the init still waits 10 s after a 100 ms timeout")
	}
	want := "rank 1: NCCL's init (ncclCommInitRankScalable) did not complete within --collective-timeout 100ms: another rank died or hung (its own line or the launcher's says which); the process exits"
	var te *TimeoutError
	if !errors.As(err, &te) || te.Aborted || err.Error() != want || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("after %v: %v, want %q", time.Since(start), err, want)
	}
	if len(fatal) != 1 {
		t.Fatalf("Fatal called %d times, want once", len(fatal))
	}
	if e := <-fatal; e.Error() != want {
		t.Errorf("Fatal got %q, want %q", e, want)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestNCCLInitTimeout$")
	cmd.Env = append(os.Environ(), initHangEnv+"="+lib)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start = time.Now()
	done = make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the child's init still waits 20 s after a 100 ms timeout")
	}
	wantLine := "jkonet-gpu: rank 3: NCCL's init (ncclCommInitRankScalable) did not complete within --collective-timeout 100ms: another rank died or hung (its own line or the launcher's says which); the process exits\n"
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || stderr.String() != wantLine {
		t.Errorf("the child: %v, stderr %q; want exit status 1 and %q", err, stderr.String(), wantLine)
	}
	t.Logf("the child ended %v after its start", time.Since(start))
}
