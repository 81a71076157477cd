// Package launch reads where this process sits in a multi-process job from
// the environment that the cluster's own launcher sets: its rank, the number
// of ranks, its rank on its node and the address of the rendezvous. jkonet-gpu
// never starts remote processes itself; srun, mpirun, torchrun or Kubernetes
// start one process per rank and this package tells each which one it is.
//
// Launchers, in order of precedence (the innermost launcher wins: Open MPI's
// mpirun in a Slurm job starts its daemons with srun, so its processes see
// a Slurm step too, and torchrun inside an srun task renumbers the ranks):
//
//	torchrun, PyTorchJob  RANK, WORLD_SIZE, LOCAL_RANK (0 if unset),
//	                      MASTER_ADDR, MASTER_PORT
//	mpirun (Open MPI)     OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE,
//	                      OMPI_COMM_WORLD_LOCAL_RANK
//	srun (Slurm)          SLURM_PROCID, SLURM_STEP_NUM_TASKS (else
//	                      SLURM_NTASKS), SLURM_LOCALID, and the first host of
//	                      SLURM_STEP_NODELIST as coordinator; only srun sets
//	                      that one, so a batch script run directly is a
//	                      single process whatever its --ntasks
//	Indexed Job, JobSet   JOB_COMPLETION_INDEX, and JKONET_WORLD_SIZE (the
//	                      Job's completions: Kubernetes does not export them)
//	none of these         a single process: rank 0 of 1
//
// A launcher is chosen by the presence of its rank or size variable (srun's:
// SLURM_STEP_NODELIST); once chosen, its variables must be complete and
// consistent, or FromEnv says in one line which one is wrong. MASTER_ADDR and MASTER_PORT, where set, give the
// coordinator under every launcher.
package launch

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Launcher names, as Topology.Launcher reports them.
const (
	Torchrun   = "torchrun"
	Mpirun     = "mpirun"
	Srun       = "srun"
	IndexedJob = "indexed-job"
	Single     = "none"
)

// WorldSizeVar names the variable that gives an Indexed Job's (or JobSet's)
// number of ranks: Kubernetes exports each pod's JOB_COMPLETION_INDEX but not
// the Job's completions, so the manifest sets this to the same number.
const WorldSizeVar = "JKONET_WORLD_SIZE"

// DefaultPort is the rendezvous port when the launcher names a host but no
// port (torchrun's default).
const DefaultPort = 29500

// Topology is this process's place among the ranks of one job.
type Topology struct {
	Rank, Size int // 0 ≤ Rank < Size
	LocalRank  int // rank among the ranks on this node: picks the GPU
	// Coordinator is the host:port where rank 0 listens for the others;
	// "" when the launcher names none (mpirun bootstraps by itself).
	Coordinator string
	Launcher    string // Torchrun, Mpirun, Srun, IndexedJob or Single
}

// String is one line for logs: "rank 2 of 4 (srun, local rank 0, coordinator node01:29500)".
func (t Topology) String() string {
	s := fmt.Sprintf("rank %d of %d (%s, local rank %d", t.Rank, t.Size, t.Launcher, t.LocalRank)
	if t.Coordinator != "" {
		s += ", coordinator " + t.Coordinator
	}
	return s + ")"
}

// FromOS reads the topology from the process environment.
func FromOS() (Topology, error) { return FromEnv(os.LookupEnv) }

// FromEnv reads the topology from env (os.LookupEnv, or a table in tests);
// see the package comment for the variables and their precedence.
func FromEnv(env func(string) (string, bool)) (Topology, error) {
	r := reader{env: env}
	var t Topology
	switch {
	case r.has("RANK", "WORLD_SIZE"):
		t = r.ranks(Torchrun, "RANK", "WORLD_SIZE", "LOCAL_RANK", false)
	case r.has("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"):
		t = r.ranks(Mpirun, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", true)
	case r.has("SLURM_STEP_NODELIST"):
		// Only srun sets the step's variables: the batch script itself is
		// one process, whatever --ntasks the job asked for.
		size := "SLURM_NTASKS"
		if r.has("SLURM_STEP_NUM_TASKS") {
			size = "SLURM_STEP_NUM_TASKS"
		}
		t = r.ranks(Srun, "SLURM_PROCID", size, "SLURM_LOCALID", true)
		if host := r.firstHost("SLURM_STEP_NODELIST"); host != "" {
			t.Coordinator = fmt.Sprintf("%s:%d", host, r.slurmPort())
		}
	case r.has("JOB_COMPLETION_INDEX"):
		t = r.ranks(IndexedJob, "JOB_COMPLETION_INDEX", WorldSizeVar, "", false)
	default:
		t = Topology{Launcher: Single, Size: 1}
	}
	if host, ok := env("MASTER_ADDR"); ok {
		port := DefaultPort
		if v, ok := env("MASTER_PORT"); ok {
			port = r.parse("MASTER_PORT", v)
			if r.err == nil && (port < 1 || port > 65535) {
				r.fail("MASTER_PORT=%q: expected a port in 1..65535", v)
			}
		}
		if strings.TrimSpace(host) == "" {
			r.fail("MASTER_ADDR is empty: expected the host of rank 0")
		}
		t.Coordinator = fmt.Sprintf("%s:%d", host, port)
	}
	if r.err != nil {
		return Topology{}, r.err
	}
	return t, nil
}

// Device picks the GPU of this rank among the visible GPUs: the only one when
// the launcher gives each task its own (srun --gpus-per-task=1, a pod with
// one GPU), else the one numbered by the local rank. One GPU cannot host two
// NCCL ranks, so a local rank beyond the visible GPUs is an error.
func (t Topology) Device(visible int) (int, error) {
	switch {
	case visible < 1:
		return 0, fmt.Errorf("%s: no GPU is visible to this process", t)
	case visible == 1:
		return 0, nil
	case t.LocalRank < visible:
		return t.LocalRank, nil
	}
	return 0, fmt.Errorf("%s: local rank %d but only %d GPUs are visible; start at most %d ranks per node, or give each its own GPU (srun --gpus-per-task=1)", t, t.LocalRank, visible, visible)
}

// reader reads integer variables and keeps the first error, so FromEnv reads
// like the table in the package comment.
type reader struct {
	env func(string) (string, bool)
	err error
}

// has reports whether any of the names is set.
func (r *reader) has(names ...string) bool {
	for _, n := range names {
		if _, ok := r.env(n); ok {
			return true
		}
	}
	return false
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

// ranks reads a launcher's rank, size and local rank (always 0 when
// localVar is "", 0 when unset unless localRequired) and checks
// 0 ≤ rank, local rank < size.
func (r *reader) ranks(launcher, rankVar, sizeVar, localVar string, localRequired bool) Topology {
	t := Topology{Launcher: launcher, Rank: r.int(rankVar, sizeVar), Size: r.int(sizeVar, rankVar)}
	if v, ok := r.env(localVar); ok && localVar != "" {
		t.LocalRank = r.parse(localVar, v)
	} else if localRequired {
		r.fail("%s is set but %s is not: expected both from %s", rankVar, localVar, launcher)
	}
	switch {
	case r.err != nil:
	case t.Size < 1:
		r.fail("%s=%d: expected at least 1 rank", sizeVar, t.Size)
	case t.Rank >= t.Size:
		r.fail("%s=%d: expected a rank below %s=%d", rankVar, t.Rank, sizeVar, t.Size)
	case t.LocalRank >= t.Size:
		r.fail("%s=%d: expected a local rank below %s=%d", localVar, t.LocalRank, sizeVar, t.Size)
	}
	return t
}

// int reads the integer ≥ 0 in name, which the launcher sets beside other.
func (r *reader) int(name, other string) int {
	v, ok := r.env(name)
	if !ok {
		r.fail("%s is set but %s is not: expected both", other, name)
		return 0
	}
	return r.parse(name, v)
}

func (r *reader) parse(name, v string) int {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		r.fail("%s=%q: expected an integer ≥ 0", name, v)
		return 0
	}
	return n
}

// firstHost returns the first host of the Slurm hostlist in name.
func (r *reader) firstHost(name string) string {
	v, _ := r.env(name)
	host, err := FirstHost(v)
	if err != nil {
		r.fail("%s=%q: %v", name, v, err)
	}
	return host
}

// slurmPort is the rendezvous port under srun, which names hosts but no
// port: MASTER_PORT is applied by FromEnv after this, so here it is
// 15000 + SLURM_JOB_ID mod 10000, so that two jobs sharing a node do not
// collide, or DefaultPort without a job id.
func (r *reader) slurmPort() int {
	v, ok := r.env("SLURM_JOB_ID")
	if !ok {
		return DefaultPort
	}
	return 15000 + r.parse("SLURM_JOB_ID", v)%10000
}
