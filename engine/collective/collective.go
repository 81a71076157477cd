// Package collective sums buffers across the ranks of a data-parallel run on
// the engines clusters already have: Open MPI for CPU nodes and NCCL for
// GPUs, both opened at run time with purego (so the binary stays
// CGO_ENABLED=0 and runs where neither library exists), and the identity for
// one process. jkonet-gpu has no network layer of its own: the only socket it
// opens is NCCL's bootstrap, which hands rank 0's 128-byte unique id to the
// others (Rendezvous).
package collective

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Names of the collectives, as --collective and the training record spell
// them.
const (
	None = "none"
	MPI  = "mpi"
	NCCL = "nccl"
	Auto = "auto"
)

// Group is what every collective has: its place among the ranks.
type Group interface {
	// Name is None, MPI or NCCL.
	Name() string
	// Rank is this process's rank, 0 ≤ Rank < Size.
	Rank() int
	// Size is the number of ranks.
	Size() int
	// Close releases the communicator (MPI_Finalize, ncclCommDestroy).
	Close() error
}

// Collective sums host buffers: every rank passes a buffer of the same
// length, and each returns with every element replaced by its sum over the
// ranks, the same bits on every rank.
type Collective interface {
	Group
	AllReduceSum(buf []float64) error
}

// Device sums buffers of float64 in GPU memory in place, queued on stream (0:
// the legacy default stream, the one the CUDA backend launches on). The
// caller has the device's context current on its OS thread.
type Device interface {
	Group
	AllReduceSumDevice(ptr uint64, n int, stream uintptr) error
}

// Single is the collective of one process: the sum over one rank is the
// buffer itself.
type Single struct{}

func (Single) Name() string                 { return None }
func (Single) Rank() int                    { return 0 }
func (Single) Size() int                    { return 1 }
func (Single) AllReduceSum([]float64) error { return nil }
func (Single) Close() error                 { return nil }

// ErrNoCollective is returned by Choose when several ranks were launched and
// nothing can sum across them.
var ErrNoCollective = errors.New("nothing can sum across the ranks")

// Offer is a collective that the training backend can sum its buffers
// with, and why it cannot be used here (nil when it can).
type Offer struct {
	Name        string
	Unavailable error
}

// sums says what each collective sums, for the error of one a backend does
// not offer.
var sums = map[string]string{MPI: "MPI sums host buffers", NCCL: "NCCL sums GPU buffers"}

// NotOfferedError is Choose's error for a collective the training backend
// cannot sum with; the caller knows which backends can.
type NotOfferedError struct{ Name string }

func (e *NotOfferedError) Error() string {
	return fmt.Sprintf("--collective %s: %s", e.Name, sums[e.Name])
}

// Choose resolves --collective for a process that is one of size ranks,
// training on a backend that can sum with offers, in its order of
// preference. byMPI says mpirun launched the process. auto takes the first
// offer that can serve: mpi when mpirun launched the process (even one
// rank), another collective when there are several ranks and it is
// available (nccl on a GPU); else none. none with several ranks, and a
// named collective that is not offered or cannot run, are refused with one
// line.
func Choose(want string, size int, byMPI bool, offers []Offer) (string, error) {
	switch want {
	case Auto:
		why := "not launched by mpirun"
		for _, o := range offers {
			switch {
			case o.Name == MPI && byMPI:
				return MPI, nil
			case o.Name == MPI:
			case o.Unavailable != nil:
				why += fmt.Sprintf(", and %s is unavailable (%v)", strings.ToUpper(o.Name), o.Unavailable)
			case size > 1:
				return o.Name, nil
			}
		}
		if size > 1 {
			return "", fmt.Errorf("--collective auto: %d ranks but %w (%s)", size, ErrNoCollective, why)
		}
		return None, nil
	case None:
		if size > 1 {
			return "", fmt.Errorf("--collective none: %d ranks were launched and %w; use --collective mpi or nccl, or run one process", size, ErrNoCollective)
		}
		return None, nil
	case MPI, NCCL: // mpi: mpirun, or srun --mpi=pmix: MPI_Init finds out, and the caller compares sizes
		i := slices.IndexFunc(offers, func(o Offer) bool { return o.Name == want })
		if i < 0 {
			return "", &NotOfferedError{Name: want}
		}
		if err := offers[i].Unavailable; err != nil {
			return "", fmt.Errorf("--collective %s: %w", want, err)
		}
		return want, nil
	}
	return "", fmt.Errorf("--collective: expected auto, none, mpi or nccl, got %q", want)
}
