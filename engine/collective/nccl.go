package collective

import (
	"fmt"
	"os"
	"sync"
	"time"
	"unsafe"

	"github.com/jkonet-gpu/jkonet-gpu/internal/dlopen"
)

// DefaultNCCLLibrary is NCCL's library, opened when LoadNCCL is given no path
// and JKONET_NCCL_LIB is unset.
const DefaultNCCLLibrary = "libnccl.so.2"

// NCCLLibraryEnv names the environment variable that overrides
// DefaultNCCLLibrary.
const NCCLLibraryEnv = "JKONET_NCCL_LIB"

// UniqueIDBytes is the size of ncclUniqueId, the communicator's bootstrap
// token that rank 0 makes and every rank passes to the init.
const UniqueIDBytes = 128

// NCCL's enums (nccl.h): ncclFloat64 of ncclDataType_t, ncclSum of
// ncclRedOp_t.
const (
	ncclFloat64 = 8
	ncclSum     = 0
)

// NCCLLib is an opened libnccl. ncclCommInitRank takes the unique id by value
// (a 128-byte struct, which a run-time binding cannot pass on amd64), so
// communicators are made with ncclCommInitRankScalable (NCCL 2.23 and
// later), which takes a pointer to it.
type NCCLLib struct {
	path        string
	version     int
	getUniqueID func(id *byte) int32
	initRank    func(comm *uintptr, nranks, rank, nIDs int32, ids *byte, config unsafe.Pointer) int32
	initAll     func(comms *uintptr, ndev int32, devlist *int32) int32
	allReduce   func(send, recv uint64, count uint64, datatype, op int32, comm, stream uintptr) int32
	destroy     func(comm uintptr) int32
	abort       func(comm uintptr) int32
	errorString func(code int32) string
}

var (
	ncclOnce sync.Once
	ncclLib  *NCCLLib
	ncclErr  error
)

// LoadNCCL opens (once per process) $JKONET_NCCL_LIB, else
// DefaultNCCLLibrary; the error says why NCCL cannot be used here, in one
// line.
func LoadNCCL() (*NCCLLib, error) {
	ncclOnce.Do(func() { ncclLib, ncclErr = OpenNCCL(os.Getenv(NCCLLibraryEnv)) })
	return ncclLib, ncclErr
}

// OpenNCCL opens the NCCL library at path ("" for DefaultNCCLLibrary) and
// resolves its entry points; it calls nothing that needs a GPU.
func OpenNCCL(path string) (*NCCLLib, error) {
	if path == "" {
		path = DefaultNCCLLibrary
	}
	l := &NCCLLib{path: path}
	var getVersion func(v *int32) int32
	lib, err := open("NCCL", path, dlopen.Local, "not an NCCL library",
		dlopen.Func{Name: "ncclGetVersion", Fn: &getVersion}, dlopen.Func{Name: "ncclGetErrorString", Fn: &l.errorString})
	if err != nil {
		return nil, err
	}
	var v int32
	if code := getVersion(&v); code != 0 {
		lib.Close()
		return nil, fmt.Errorf("NCCL %s: ncclGetVersion: %s", path, l.errorString(code))
	}
	if v < MinVersion {
		lib.Close()
		return nil, fmt.Errorf("NCCL %s is %s; jkonet-gpu needs NCCL %s or later (ncclCommInitRankScalable): use the project's image (CUDA 12.8.1, NCCL 2.25) or load a newer NCCL and point %s at it",
			path, VersionString(int(v)), VersionString(MinVersion), NCCLLibraryEnv)
	}
	if err := lib.Bind(dlopen.Func{Name: "ncclGetUniqueId", Fn: &l.getUniqueID},
		dlopen.Func{Name: "ncclCommInitRankScalable", Fn: &l.initRank}, dlopen.Func{Name: "ncclCommInitAll", Fn: &l.initAll},
		dlopen.Func{Name: "ncclAllReduce", Fn: &l.allReduce}, dlopen.Func{Name: "ncclCommDestroy", Fn: &l.destroy},
		dlopen.Func{Name: "ncclCommAbort", Fn: &l.abort}); err != nil {
		lib.Close()
		return nil, fmt.Errorf("%w (jkonet-gpu needs NCCL %s or later)", err, VersionString(MinVersion))
	}
	l.version = int(v)
	return l, nil
}

// MinVersion is the oldest NCCL the binding can use (2.23: it makes
// communicators with ncclCommInitRankScalable).
const MinVersion = 22300

// VersionString spells an NCCL version code (major·10000 + minor·100 +
// patch, since 2.9) as major.minor.patch.
func VersionString(code int) string {
	return fmt.Sprintf("%d.%d.%d", code/10000, code/100%100, code%100)
}

// Version is NCCL's version code (major·10000 + minor·100 + patch).
func (l *NCCLLib) Version() int { return l.version }

func (l *NCCLLib) check(call string, code int32) error {
	if code == 0 {
		return nil
	}
	return fmt.Errorf("%s: %s (NCCL error %d)", call, l.errorString(code), code)
}

// UniqueID makes a communicator's unique id (rank 0 does, once per run).
func (l *NCCLLib) UniqueID() ([UniqueIDBytes]byte, error) {
	var id [UniqueIDBytes]byte
	return id, l.check("ncclGetUniqueId", l.getUniqueID(&id[0]))
}

// NCCLComm is one rank's NCCL communicator.
type NCCLComm struct {
	lib        *NCCLLib
	comm       uintptr
	rank, size int
	mu         sync.Mutex // Abort against Close
	aborted    bool
}

// NewComm joins rank of size ranks on the id rank 0 made (every rank passes
// the same id). The GPU the rank uses must be current (its CUDA context
// current on this OS thread); NewComm blocks until every rank has joined.
func (l *NCCLLib) NewComm(id [UniqueIDBytes]byte, rank, size int) (*NCCLComm, error) {
	c := &NCCLComm{lib: l, rank: rank, size: size}
	if err := l.check("ncclCommInitRankScalable", l.initRank(&c.comm, int32(size), int32(rank), 1, &id[0], nil)); err != nil {
		return nil, err
	}
	return c, nil
}

// NCCLInit names NCCL's init in the line of a *TimeoutError.
const NCCLInit = "NCCL's init (ncclCommInitRankScalable)"

// ncclJoining is the Group of a rank whose communicator is being made, for
// the init's watchdog: it cannot abort.
type ncclJoining struct{ rank, size int }

func (g ncclJoining) Name() string { return NCCL }
func (g ncclJoining) Rank() int    { return g.rank }
func (g ncclJoining) Size() int    { return g.size }
func (g ncclJoining) Close() error { return nil }

// NewCommWithin is NewComm bounded by timeout (--collective-timeout; 0:
// unbounded): the init waits for every rank, so a rank that died between
// the rendezvous and its init (killed, out of memory, a failed GPU) would
// leave the others in it forever. Past the timeout, fatal gets the
// *TimeoutError (NCCLInit), on the watchdog's goroutine while the init
// still blocks, and must end the process (nil: the error's line on stderr
// and exit status 1), as Open MPI's sums do. The init is not aborted: a
// blocking ncclCommInitRankScalable owns its communicator until it returns
// (NCCL allows ncclCommAbort during an init only on a non-blocking
// communicator, whose every call would then have to poll
// ncclCommGetAsyncError), so freeing it from another thread could crash the
// rank instead of ending it with the line. If fatal returns (a test), the
// init's communicator, once made, is closed and the *TimeoutError returned.
func (l *NCCLLib) NewCommWithin(id [UniqueIDBytes]byte, rank, size int, timeout time.Duration, fatal func(*TimeoutError)) (*NCCLComm, error) {
	w := &Watchdog{Timeout: timeout, Group: ncclJoining{rank, size}, Fatal: fatal, Call: NCCLInit}
	var c *NCCLComm
	err := w.Do(func() (err error) {
		c, err = l.NewComm(id, rank, size)
		return err
	})
	if te := w.Expired(); te != nil {
		if c != nil {
			c.Close()
		}
		return nil, te
	}
	return c, err
}

// NewSingleComm is a communicator of one rank on the current device
// (ncclCommInitAll on device 0 of the current process's view).
func (l *NCCLLib) NewSingleComm(device int) (*NCCLComm, error) {
	c := &NCCLComm{lib: l, size: 1}
	dev := int32(device)
	if err := l.check("ncclCommInitAll", l.initAll(&c.comm, 1, &dev)); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *NCCLComm) Name() string { return NCCL }
func (c *NCCLComm) Rank() int    { return c.rank }
func (c *NCCLComm) Size() int    { return c.size }

// AllReduceSumDevice is ncclAllReduce in place, ncclFloat64, ncclSum.
func (c *NCCLComm) AllReduceSumDevice(ptr uint64, n int, stream uintptr) error {
	if n == 0 {
		return nil
	}
	return c.lib.check("ncclAllReduce", c.lib.allReduce(ptr, ptr, uint64(n), ncclFloat64, ncclSum, c.comm, stream))
}

// Abort is ncclCommAbort, which NCCL allows from another thread while a
// call or the GPU's queued work on the communicator waits for a rank that
// died: the wait ends with an error, and the communicator is freed
// (Close then does nothing). The collective watchdog calls it
// (collective.Aborter).
func (c *NCCLComm) Abort() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.comm == 0 || c.aborted {
		return nil
	}
	c.aborted = true
	return c.lib.check("ncclCommAbort", c.lib.abort(c.comm))
}

// Close destroys the communicator; a second Close, or one after Abort, does
// nothing.
func (c *NCCLComm) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.comm == 0 || c.aborted {
		c.comm = 0
		return nil
	}
	err := c.lib.check("ncclCommDestroy", c.lib.destroy(c.comm))
	c.comm = 0
	return err
}
