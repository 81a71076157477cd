// Package engine trains JKOnet* models: it batches the coupling pairs,
// samples the interaction populations, and runs optimisation steps on a
// Backend chosen by name from a registry (cpu always; cuda when built with
// the cuda tag and a GPU answers). It also writes checkpoints and resumes
// from them bit for bit.
package engine

import (
	"fmt"
	"sort"
	"strings"

	"github.com/jkonet-gpu/jkonet-gpu/models"
)

// Backend runs whole optimisation steps (batch assembly, loss, gradients,
// clipping, Adam update) for one model on one device. The trainer only picks
// the pairs of each step and reads the state back for checkpoints, so a
// device backend can keep the data and the optimiser resident.
type Backend interface {
	// Name is the registry name, e.g. "cpu".
	Name() string
	// Step performs optimisation step number step (0-based, global across
	// epochs) on the coupling pairs with the given indices. Interaction
	// samples are drawn from a stream derived from (seed, step), so a
	// resumed run repeats the same steps.
	Step(pairs []int, step uint64) (models.Loss, error)
	// State returns the current parameters and optimiser state (copies).
	State() *State
	// SetState restores a state returned by State (for --resume).
	SetState(*State) error
}

// State is everything a checkpoint needs to continue bit for bit.
type State struct {
	Params []float64 // the model's flat parameter buffer
	M, V   []float64 // Adam's first and second moments, same layout
	Steps  uint64    // optimisation steps taken
}

// Factory builds a backend for the model and problem.
type Factory func(net *models.Net, p *Problem, s Settings) (Backend, error)

// Registration is a backend in the registry.
type Registration struct {
	Name string
	// Available says whether the backend can run here, and if not why.
	Available func() error
	New       Factory
}

var registry = map[string]Registration{}

// Register adds a backend; accelerated backends register themselves from an
// init function in files behind their build tag.
func Register(r Registration) { registry[r.Name] = r }

// Backends lists the registered backend names, sorted.
func Backends() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Resolve maps a --device value to a registered, available backend. "auto"
// prefers cuda and falls back to cpu; note then says why (one line for the
// user), and is empty otherwise.
func Resolve(device string) (r Registration, note string, err error) {
	if device == "auto" {
		c, ok := registry["cuda"]
		if !ok {
			return registry["cpu"], "device auto: using the CPU (this build has no CUDA backend)", nil
		}
		if err := c.Available(); err != nil {
			return registry["cpu"], fmt.Sprintf("device auto: using the CPU (CUDA unavailable: %v)", err), nil
		}
		return c, "", nil
	}
	r, ok := registry[device]
	if !ok {
		return r, "", fmt.Errorf("--device: unknown device %q (this build has: auto, %s)", device, strings.Join(Backends(), ", "))
	}
	if err := r.Available(); err != nil {
		return r, "", fmt.Errorf("--device %s: unavailable: %v", device, err)
	}
	return r, "", nil
}
