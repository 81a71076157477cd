package engine_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/engine"
	"github.com/jkonet-gpu/jkonet-gpu/engine/collective"
	"github.com/jkonet-gpu/jkonet-gpu/engine/collective/collectivetest"
	"github.com/jkonet-gpu/jkonet-gpu/engine/launch"
	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
)

// registerInProcess adds the backend "ranked": the CPU's, whose "mpi"
// collective is the in-process group ranks (one per rank of the job's
// topology). It is removed when the test ends.
func registerInProcess(t *testing.T, ranks []collective.Collective) {
	engine.Register(engine.Registration{
		Name: "ranked", Label: "Ranked", Available: func() (string, error) { return "", nil },
		Precisions: []string{engine.Float64},
		Collectives: []engine.CollectiveOffer{{Name: collective.MPI, Open: func(j engine.Joining) (collective.Group, func() error, error) {
			return ranks[j.Topology.Rank], func() error { return nil }, nil
		}}},
		New: func(net *networks.Net, p *engine.Problem, s engine.Settings) (engine.Backend, error) {
			cpu, _ := engine.Lookup("cpu")
			return cpu.New(net, p, s)
		},
	})
	t.Cleanup(func() { engine.Unregister("ranked") })
}

// runRanks runs job on n in-process ranks, rank r's job changed by edit,
// and returns each rank's result and error.
func runRanks(t *testing.T, n int, edit func(r int, job *engine.Job)) ([]*engine.Result, []error) {
	t.Helper()
	registerInProcess(t, collectivetest.Group(n))
	res, errs := make([]*engine.Result, n), make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		job := smallJob(t, "ranked")
		job.Collective, job.Topology = collective.MPI, launch.Topology{Rank: r, Size: n, Launcher: "test"}
		job.Settings.Samples = 4
		edit(r, &job)
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[r], errs[r] = engine.Run(context.Background(), job)
		}()
	}
	wg.Wait()
	return res, errs
}

// TestRanksDisagree: ranks that train with another setting, other data or
// another model stop before training, every one with the same line naming
// the field, rank 0's value and the first differing rank's; ranks that
// agree train.
func TestRanksDisagree(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(r int, job *engine.Job)
		want string
	}{
		{"--lr on rank 2", func(r int, job *engine.Job) {
			if r == 2 {
				job.Settings.LR = 0.1
			}
		}, "the ranks disagree on --lr: rank 0 has 0.001, rank 2 has 0.1"},
		{"the model on rank 1", func(r int, job *engine.Job) {
			if r == 1 {
				job.Model = "jkonet-star"
			}
		}, "the ranks disagree on --model: rank 0 has potential, rank 1 has jkonet-star"},
		{"the data on rank 1", func(r int, job *engine.Job) {
			if r == 1 {
				other := smallJob(t, "ranked")
				other.Data.X[0] += 1e-9
				job.Data = other.Data
			}
		}, "the ranks disagree on the data's sha256: rank 0 has "},
	} {
		_, errs := runRanks(t, 3, c.edit)
		first := ""
		for r, err := range errs {
			if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s: rank %d: %v, want one line starting %q", c.name, r, err, c.want)
				continue
			}
			if first == "" {
				first = err.Error()
			} else if err.Error() != first {
				t.Errorf("%s: rank %d says %q, rank 0 %q", c.name, r, err, first)
			}
		}
	}
	res, errs := runRanks(t, 3, func(int, *engine.Job) {})
	for r, err := range errs {
		if err != nil || res[r].Record.Ranks != 3 {
			t.Fatalf("agreeing ranks: rank %d: %v", r, err)
		}
	}
}
