package collective

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// DefaultTimeout is --collective-timeout's default: how long a rank waits
// in one collective call (or, under NCCL, for the GPU's queued sums) before
// it decides that another rank died or hung. Like PyTorch's NCCL watchdog
// (10 minutes), it is far above any sum's time and below a job's wall time.
const DefaultTimeout = 5 * time.Minute

// Aborter is a group that can abort its communicator from another goroutine
// while a call on it blocks, so that the call returns an error
// (ncclCommAbort; the in-process test group). Open MPI cannot: MPI has no
// abort from another thread under MPI_THREAD_SERIALIZED.
type Aborter interface {
	Abort() error
}

// Watcher is a group whose waits for the other ranks are bounded by a
// Watchdog: a device backend, whose host queues sums without waiting for
// them, arms it over the stretch in which it queues them and waits
// (Watchdog.Arm).
type Watcher interface {
	Arm() (disarm func() error)
}

// TimeoutError is a collective call that did not return within the
// timeout: another rank died or hung.
type TimeoutError struct {
	Collective string
	Rank       int
	Timeout    time.Duration
	Aborted    bool   // the communicator was aborted (else the process ends)
	Call       string // what did not complete, when not a sum (Watchdog.Call)
}

func (e *TimeoutError) Error() string {
	how := "the process exits"
	if e.Aborted {
		how = "the communicator was aborted"
	}
	if e.Call != "" {
		return fmt.Sprintf("rank %d: %s did not complete within --collective-timeout %s: another rank died or hung (its own line or the launcher's says which); %s",
			e.Rank, e.Call, e.Timeout, how)
	}
	return fmt.Sprintf("rank %d: no %s sum completed within --collective-timeout %s: another rank died or hung (its own line or the launcher's says which); %s",
		e.Rank, e.Collective, e.Timeout, how)
}

// Watchdog bounds the collective calls of a group in time. A call run
// through Do that has not returned after Timeout aborts the group when it
// can (Aborter), so that the call returns and Do returns a *TimeoutError;
// otherwise it calls Fatal with the *TimeoutError, on the watchdog's own
// goroutine, while the call still blocks: Fatal must end the process (nil:
// the error's line on stderr and exit status 1). Timeout 0 disables the
// watchdog.
type Watchdog struct {
	Timeout time.Duration
	Group   Group
	Fatal   func(*TimeoutError)
	// Call names what the watchdog bounds when it is not the group's sums
	// (NCCL's init), for the *TimeoutError's line.
	Call string

	mu      sync.Mutex
	expired *TimeoutError // set once: the group is aborted for good
}

// Do runs call under the watchdog. Once the watchdog has fired, every later
// Do returns its *TimeoutError without calling: the communicator is gone.
func (w *Watchdog) Do(call func() error) error {
	if w == nil || w.Timeout <= 0 {
		return call()
	}
	if err := w.Expired(); err != nil {
		return err
	}
	disarm := w.Arm()
	err := call()
	if terr := disarm(); terr != nil {
		return terr
	}
	return err
}

// Arm starts the watchdog over a stretch of several calls (a device
// backend's epoch of queued sums); disarm stops it and returns its
// *TimeoutError if it fired meanwhile (or before), else nil.
func (w *Watchdog) Arm() (disarm func() error) {
	if w == nil || w.Timeout <= 0 {
		return func() error { return nil }
	}
	t := time.AfterFunc(w.Timeout, w.fire)
	return func() error {
		t.Stop()
		return w.Expired()
	}
}

// Expired is the watchdog's *TimeoutError once it fired, else nil.
func (w *Watchdog) Expired() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.expired == nil {
		return nil
	}
	return w.expired
}

// fire aborts the group, or ends the process through Fatal.
func (w *Watchdog) fire() {
	err := &TimeoutError{Collective: w.Group.Name(), Rank: w.Group.Rank(), Timeout: w.Timeout, Call: w.Call}
	a, ok := w.Group.(Aborter)
	err.Aborted = ok
	w.mu.Lock()
	if w.expired == nil {
		w.expired = err
	}
	w.mu.Unlock()
	if ok {
		_ = a.Abort() // the blocked call returns with the abort's error
		return
	}
	if w.Fatal == nil {
		fmt.Fprintf(os.Stderr, "jkonet-gpu: %v\n", err)
		os.Exit(1)
	}
	w.Fatal(err)
}
