package engine

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jkonet-gpu/jkonet-gpu/engine/collective"
	"github.com/jkonet-gpu/jkonet-gpu/engine/launch"
)

// Data-parallel training (README "Data-parallel training"): the cluster's
// launcher starts one process per rank (package launch says which), each
// trains on its share of every batch, and the collective sums the gradients.
// Rank 0 alone writes checkpoints, the model and progress.

// RendezvousTimeout bounds how long NCCL's bootstrap waits for every rank.
const RendezvousTimeout = 5 * time.Minute

// Joining is what a collective's Open gets: this process's place among the
// ranks, its fingerprint (what every rank must hold alike), and where rank
// 0 notes the connections its NCCL rendezvous refused. A collective that
// sums host buffers is compared by joinRanks after Open; one that does not
// (NCCL) compares the fingerprints while it bootstraps.
type Joining struct {
	Topology    launch.Topology
	Fingerprint []collective.Field
	Log         io.Writer
	// Timeout bounds each wait for the other ranks once joined
	// (--collective-timeout; 0: none): see Watched.
	Timeout time.Duration
}

// MPIOffer is Open MPI, which sums host buffers for any backend: the CPU's
// directly, a device backend's through a host copy.
var MPIOffer = CollectiveOffer{Name: collective.MPI, Open: func(Joining) (collective.Group, func() error, error) {
	m, err := collective.OpenMPI("")
	if err != nil {
		return nil, nil, err
	}
	return m, m.Close, nil
}}

// ranks is the collective a backend joined and what closes it.
type ranks struct {
	collective.Group
	close func() error
	host  *timedSum // the host sums, timed; nil for device sums and one process
}

// timedSum is a host collective that adds up the time its sums take,
// waiting for the slowest rank included, each bounded by the watchdog.
type timedSum struct {
	collective.Collective
	watch *collective.Watchdog
	spent time.Duration
}

func (t *timedSum) AllReduceSum(buf []float64) error {
	start := time.Now()
	err := t.watch.Do(func() error { return t.Collective.AllReduceSum(buf) })
	t.spent += time.Since(start)
	return err
}

// watchedDevice is a device collective whose sums, and the stretches in
// which its backend queues and waits for them (collective.Watcher), are
// bounded by the watchdog.
type watchedDevice struct {
	collective.Device
	watch *collective.Watchdog
}

func (w watchedDevice) AllReduceSumDevice(ptr uint64, n int, stream uintptr) error {
	return w.watch.Do(func() error { return w.Device.AllReduceSumDevice(ptr, n, stream) })
}

func (w watchedDevice) Arm() func() error { return w.watch.Arm() }

// Watched bounds the waits of group g for the other ranks by timeout
// (--collective-timeout; 0: unbounded): a host collective's sums, a device
// collective's sums and the stretches its backend arms it over
// (collective.Watcher: an epoch of queued sums). A wait past the timeout aborts a group that can abort
// (NCCL: ncclCommAbort), so that it returns a *collective.TimeoutError, and
// otherwise (Open MPI, which cannot be aborted from another thread) prints
// that error's line and ends the process with exit status 1. A group that is
// neither collective is returned as it is.
func Watched(g collective.Group, timeout time.Duration) collective.Group {
	w := &collective.Watchdog{Timeout: timeout, Group: g}
	switch c := g.(type) {
	case collective.Device:
		return watchedDevice{Device: c, watch: w}
	case collective.Collective:
		return &timedSum{Collective: c, watch: w}
	}
	return g
}

// sumShare is one line on the share of total that this rank spent in the
// host sums, "" where they were not timed or there is one rank.
func (r *ranks) sumShare(total time.Duration) string {
	if r.host == nil || r.Size() == 1 {
		return ""
	}
	return fmt.Sprintf("data parallel: rank %d spent %.2f s of %.2f s (%.1f%%) in the %s sums, waiting for the other ranks included",
		r.Rank(), r.host.spent.Seconds(), total.Seconds(), 100*r.host.spent.Seconds()/total.Seconds(), r.Name())
}

// joinRanks opens the collective want names (--collective), among those
// the backend reg offers, for this process of j.Topology, checks that every
// rank holds j.Fingerprint (one line naming the first field that differs,
// on every rank), and joins the backend to it; stop is this rank's stop
// request. For one process the group is Single, which the backend does not
// join: one process trains as without a collective.
func joinRanks(want string, reg Registration, j Joining, b Backend, stop func() bool) (*ranks, error) {
	topo := j.Topology
	none := func() error { return nil }
	name, err := collective.Choose(want, topo.Size, topo.Launcher == launch.Mpirun, reg.offers())
	var notOffered *collective.NotOfferedError
	if errors.As(err, &notOffered) {
		if by := offeredBy(notOffered.Name); len(by) > 0 {
			return nil, fmt.Errorf("%w; train with --device %s", err, strings.Join(by, " or "))
		}
		return nil, fmt.Errorf("%w, and no backend of this build offers it", err)
	}
	if err != nil {
		return nil, err
	}
	if name == collective.None {
		return &ranks{Group: collective.Single{}, close: none}, nil
	}
	offer, _ := reg.collectiveOffer(name)
	group, closeGroup, err := offer.Open(j)
	if err != nil {
		var d *collective.DisagreeError
		if errors.As(err, &d) {
			return nil, err
		}
		return nil, fmt.Errorf("--collective %s: %w", name, err)
	}
	group = Watched(group, j.Timeout)
	r := &ranks{Group: group, close: closeGroup}
	if h, ok := group.(*timedSum); ok {
		r.host = h
	}
	if group.Size() != topo.Size || group.Rank() != topo.Rank {
		closeGroup()
		return nil, fmt.Errorf("--collective %s: the launcher says %s, %s says rank %d of %d", name, topo, name, group.Rank(), group.Size())
	}
	if r.host != nil {
		if err := collective.Agree(r.host, j.Fingerprint); err != nil {
			closeGroup()
			return nil, err
		}
	}
	par, ok := b.(Parallel)
	if !ok {
		closeGroup()
		return nil, fmt.Errorf("--collective %s: the %s backend cannot train data-parallel", name, b.Name())
	}
	if err := par.Join(group, stop); err != nil {
		closeGroup()
		return nil, fmt.Errorf("--collective %s: %w", name, err)
	}
	return r, nil
}

// offeredBy lists the registered backends that can sum with collective
// name, sorted.
func offeredBy(name string) []string {
	var out []string
	for _, b := range Backends() {
		if _, ok := registry[b].collectiveOffer(name); ok {
			out = append(out, b)
		}
	}
	return out
}

// JobToken is what names this job to the NCCL rendezvous (README
// "Clusters"): $JKONET_JOB_TOKEN if set, else torchrun's run id, else the
// Slurm job and step, else a hash of fp, the ranks' fingerprint. Ranks of
// another job, which carry another token, are refused by rank 0.
func JobToken(env func(string) (string, bool), fp []collective.Field) string {
	if v, ok := env(JobTokenVar); ok && v != "" {
		return v
	}
	if v, ok := env("TORCHELASTIC_RUN_ID"); ok && v != "" && v != "none" {
		return "torchrun " + v
	}
	if job, ok := env("SLURM_JOB_ID"); ok && job != "" {
		step, _ := env("SLURM_STEP_ID")
		return "slurm " + job + "." + step
	}
	h := sha256.New()
	for _, f := range fp {
		fmt.Fprintf(h, "%s\x1f%s\x1e", f.Name, f.Value)
	}
	return fmt.Sprintf("settings %x", h.Sum(nil)[:12])
}

// JobTokenVar names the variable that sets the job token by hand.
const JobTokenVar = "JKONET_JOB_TOKEN"

// OpenNCCL makes the NCCL communicator of this rank of j.Topology; within
// runs the call with the device's context current (a device backend's).
// Rank 0's unique id reaches the others by MPI's broadcast under mpirun,
// else through the launcher's coordinator address, where rank 0 answers
// only its own job's ranks; either way the ranks compare fingerprints
// first. NCCL's init, which waits for every rank, is bounded by j.Timeout
// (--collective-timeout): a rank that died after the rendezvous ends the
// others with one line and exit status 1 (collective.NCCLLib.NewCommWithin).
func OpenNCCL(j Joining, within func(func() error) error) (collective.Group, func() error, error) {
	topo := j.Topology
	lib, err := collective.LoadNCCL()
	if err != nil {
		return nil, nil, err
	}
	var id [collective.UniqueIDBytes]byte
	if topo.Rank == 0 {
		if id, err = lib.UniqueID(); err != nil {
			return nil, nil, err
		}
	}
	closeMPI := func() error { return nil }
	switch {
	case topo.Size == 1:
	case topo.Launcher == launch.Mpirun:
		m, err := collective.OpenMPI("")
		if err != nil {
			return nil, nil, fmt.Errorf("sharing NCCL's id under mpirun: %w", err)
		}
		closeMPI = m.Close
		if err := collective.Agree(m, j.Fingerprint); err != nil {
			m.Close()
			return nil, nil, err
		}
		if err := m.Broadcast(id[:], 0); err != nil {
			m.Close()
			return nil, nil, err
		}
	case topo.Coordinator != "":
		hello := collective.Hello{Rank: topo.Rank, Size: topo.Size, Token: JobToken(os.LookupEnv, j.Fingerprint), Fingerprint: j.Fingerprint}
		if id, err = collective.Rendezvous(topo.Coordinator, hello, id, RendezvousTimeout, j.Log); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, fmt.Errorf("%s names no coordinator to share NCCL's id: launch with mpirun, or set MASTER_ADDR and MASTER_PORT", topo)
	}
	var comm *collective.NCCLComm
	if err := within(func() (err error) {
		comm, err = lib.NewCommWithin(id, topo.Rank, topo.Size, j.Timeout, nil)
		return err
	}); err != nil {
		closeMPI()
		return nil, nil, err
	}
	closeAll := func() error {
		err := within(comm.Close)
		if merr := closeMPI(); err == nil {
			err = merr
		}
		return err
	}
	return comm, closeAll, nil
}
