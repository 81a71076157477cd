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

// Choose resolves --collective for a process that is one of size ranks.
// byMPI says mpirun launched it, cuda that it trains on a GPU, and ncclErr
// why libnccl cannot be used (nil when it opens). auto picks nccl on a GPU
// when there are several ranks and NCCL opens, else mpi when launched by
// mpirun, else none; none with several ranks, and a named collective that
// cannot run, are refused with one line.
func Choose(want string, size int, byMPI, cuda bool, ncclErr error) (string, error) {
	switch want {
	case Auto:
		switch {
		case size > 1 && cuda && ncclErr == nil:
			return NCCL, nil
		case byMPI:
			return MPI, nil
		case size > 1:
			why := "not launched by mpirun"
			if cuda {
				why += fmt.Sprintf(", and NCCL is unavailable (%v)", ncclErr)
			}
			return "", fmt.Errorf("--collective auto: %d ranks but %w (%s)", size, ErrNoCollective, why)
		}
		return None, nil
	case None:
		if size > 1 {
			return "", fmt.Errorf("--collective none: %d ranks were launched and %w; use --collective mpi or nccl, or run one process", size, ErrNoCollective)
		}
		return None, nil
	case MPI: // mpirun, or srun --mpi=pmix: MPI_Init finds out, and the caller compares sizes
		return MPI, nil
	case NCCL:
		if !cuda {
			return "", errors.New("--collective nccl: NCCL sums GPU buffers; train with --device cuda")
		}
		if ncclErr != nil {
			return "", fmt.Errorf("--collective nccl: %w", ncclErr)
		}
		return NCCL, nil
	}
	return "", fmt.Errorf("--collective: expected auto, none, mpi or nccl, got %q", want)
}
