package collective

import (
	"fmt"
	"os"
	"sync"
	"unsafe"

	"github.com/jkonet-gpu/jkonet-gpu/internal/dlopen"
)

// DefaultMPILibrary is Open MPI's C library (Debian's libopenmpi3, and Open
// MPI 4 and 5 builds elsewhere), opened when OpenMPI is given no path and
// JKONET_MPI_LIB is unset.
const DefaultMPILibrary = "libmpi.so.40"

// MPILibraryEnv names the environment variable that overrides
// DefaultMPILibrary.
const MPILibraryEnv = "JKONET_MPI_LIB"

// Open MPI's constants: MPI_IN_PLACE is (void*)1; MPI_THREAD_SERIALIZED is
// the third of the enum MPI_THREAD_SINGLE … MPI_THREAD_MULTIPLE.
const (
	mpiInPlace          = 1
	mpiThreadSerialized = 2
	mpiMaxErrorString   = 256
)

// MPIComm is MPI_COMM_WORLD of Open MPI, opened at run time: a Collective,
// and the broadcast NCCL's bootstrap uses under mpirun.
//
// Why run time rather than cgo: the binary is built with CGO_ENABLED=0 so one
// file serves GPU and CPU machines and needs no C toolchain; a cgo binding
// behind a build tag would make a second binary that needs libmpi to start.
// The price is tying the binding to Open MPI's ABI (its handles are the
// addresses of the global objects ompi_mpi_comm_world, ompi_mpi_double,
// ompi_mpi_op_sum; MPICH's are integers), which is what Debian and most
// clusters' CPU partitions ship.
type MPIComm struct {
	mu                      sync.Mutex // MPI_THREAD_SERIALIZED: one call at a time
	rank, size              int
	world, double, byteType uintptr // MPI_Comm, MPI_Datatype: addresses of Open MPI's globals
	opSum, opMax            uintptr // MPI_Op: likewise
	finalized               bool
	initThread              func(argc, argv unsafe.Pointer, required int32, provided *int32) int32
	commRank, commSize      func(comm uintptr, v *int32) int32
	allreduce               func(send uintptr, recv unsafe.Pointer, count int32, datatype, op, comm uintptr) int32
	bcast                   func(buf unsafe.Pointer, count int32, datatype uintptr, root int32, comm uintptr) int32
	finalize                func() int32
	errorString             func(code int32, text *byte, length *int32) int32
}

// OpenMPI loads Open MPI (path, else $JKONET_MPI_LIB, else
// DefaultMPILibrary), initialises it (MPI_Init_thread, serialized) and
// returns MPI_COMM_WORLD. The process must have been started by mpirun (or
// srun --mpi=pmix): Open MPI's singleton start would launch a daemon of its
// own.
func OpenMPI(path string) (*MPIComm, error) {
	if path == "" {
		path = os.Getenv(MPILibraryEnv)
	}
	if path == "" {
		path = DefaultMPILibrary
	}
	// RTLD_GLOBAL: Open MPI's plugins (mca_*.so) resolve their symbols in
	// libmpi and libopen-pal.
	m := &MPIComm{}
	lib, err := open("Open MPI", path, dlopen.Global, "not an MPI library",
		dlopen.Func{Name: "MPI_Init_thread", Fn: &m.initThread}, dlopen.Func{Name: "MPI_Comm_rank", Fn: &m.commRank},
		dlopen.Func{Name: "MPI_Comm_size", Fn: &m.commSize}, dlopen.Func{Name: "MPI_Allreduce", Fn: &m.allreduce},
		dlopen.Func{Name: "MPI_Bcast", Fn: &m.bcast}, dlopen.Func{Name: "MPI_Finalize", Fn: &m.finalize},
		dlopen.Func{Name: "MPI_Error_string", Fn: &m.errorString})
	if err != nil {
		return nil, err
	}
	for _, g := range []struct {
		name string
		dst  *uintptr
	}{{"ompi_mpi_comm_world", &m.world}, {"ompi_mpi_double", &m.double}, {"ompi_mpi_byte", &m.byteType}, {"ompi_mpi_op_sum", &m.opSum}, {"ompi_mpi_op_max", &m.opMax}} {
		if *g.dst, err = lib.Lookup(g.name); err != nil {
			return nil, fmt.Errorf("%s lacks %s: not Open MPI (this binding follows Open MPI's ABI)", path, g.name)
		}
	}
	var provided int32
	if err := m.check("MPI_Init_thread", m.initThread(nil, nil, mpiThreadSerialized, &provided)); err != nil {
		return nil, err
	}
	if provided < mpiThreadSerialized {
		m.finalize()
		return nil, fmt.Errorf("Open MPI %s provides thread level %d, jkonet-gpu needs MPI_THREAD_SERIALIZED", path, provided)
	}
	var rank, size int32
	if err := m.check("MPI_Comm_rank", m.commRank(m.world, &rank)); err != nil {
		return nil, err
	}
	if err := m.check("MPI_Comm_size", m.commSize(m.world, &size)); err != nil {
		return nil, err
	}
	m.rank, m.size = int(rank), int(size)
	return m, nil
}

// check turns an MPI return code into an error (Open MPI's default error
// handler aborts first, so this is for handlers that return).
func (m *MPIComm) check(call string, code int32) error {
	if code == 0 {
		return nil
	}
	text := make([]byte, mpiMaxErrorString)
	var n int32
	if m.errorString(code, &text[0], &n) != 0 || n <= 0 || int(n) > len(text) {
		return fmt.Errorf("%s: MPI error %d", call, code)
	}
	return fmt.Errorf("%s: %s", call, text[:n])
}

func (m *MPIComm) Name() string { return MPI }
func (m *MPIComm) Rank() int    { return m.rank }
func (m *MPIComm) Size() int    { return m.size }

// AllReduceSum is MPI_Allreduce(MPI_IN_PLACE, buf, MPI_DOUBLE, MPI_SUM) on
// MPI_COMM_WORLD. Open MPI's reduction order depends only on the ranks and
// the length, so every rank gets the same bits.
//
// The ranks first agree on the length (an MPI_MAX of n and −n, two values
// whatever the length): ranks that would sum buffers of different lengths,
// which Open MPI answers with a read past the end of the shorter one, all
// return a *LengthError instead.
func (m *MPIComm) AllReduceSum(buf []float64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := float64(len(buf))
	span := [2]float64{n, -n}
	if err := m.check("MPI_Allreduce", m.allreduce(mpiInPlace, unsafe.Pointer(&span[0]), 2, m.double, m.opMax, m.world)); err != nil {
		return err
	}
	if span[0] != -span[1] {
		return &LengthError{Rank: m.rank, Len: len(buf), Min: int(-span[1]), Max: int(span[0])}
	}
	if len(buf) == 0 {
		return nil
	}
	code := m.allreduce(mpiInPlace, unsafe.Pointer(&buf[0]), int32(len(buf)), m.double, m.opSum, m.world)
	return m.check("MPI_Allreduce", code)
}

// LengthError is a sum the ranks would have made over buffers of different
// lengths, refused on every rank before any is read.
type LengthError struct {
	Rank, Len int // this rank and its buffer's length
	Min, Max  int // the shortest and longest buffer among the ranks
}

func (e *LengthError) Error() string {
	return fmt.Sprintf("the ranks sum buffers of different lengths (%d to %d values; rank %d has %d): they train different models or settings", e.Min, e.Max, e.Rank, e.Len)
}

// Broadcast copies root's buf to every rank's (MPI_Bcast of MPI_BYTE).
func (m *MPIComm) Broadcast(buf []byte, root int) error {
	if len(buf) == 0 {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.check("MPI_Bcast", m.bcast(unsafe.Pointer(&buf[0]), int32(len(buf)), m.byteType, int32(root), m.world))
}

// Close is MPI_Finalize; a second Close does nothing.
func (m *MPIComm) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.finalized {
		return nil
	}
	m.finalized = true
	return m.check("MPI_Finalize", m.finalize())
}
