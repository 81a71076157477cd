// Package engine trains JKOnet* models: it shuffles the coupling pairs into
// batches and runs optimisation steps on a Backend chosen by name from a
// registry (cpu and cpu-graph always; cuda registered by package cudabackend,
// which finds the GPU at run time). Interaction samples come from the
// counter-based generator of package philox, keyed by (seed, step, pair,
// slot), so every backend draws the same samples and a resumed run repeats
// its steps. Checkpoints are the CLI's: it writes the State a backend
// returns. A backend that implements Parallel trains as one rank of a
// data-parallel group, summing across the ranks with package collective.
package engine

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
)

// Backend runs whole optimisation steps (batch assembly, loss, gradients,
// clipping, Adam update) for one model on one device. The trainer only
// chooses the order of the pairs and the step numbers, and reads the loss
// once per epoch, so a device backend keeps the pairs, populations, scores,
// parameters and optimiser state resident and queues its steps without
// waiting for them.
type Backend interface {
	// Name is the registry name, e.g. "cpu".
	Name() string
	// Settings are the settings the backend trains with, its defaults
	// resolved (interaction samples, precision).
	Settings() Settings
	// SetOrder gives the order in which the coming steps take the coupling
	// pairs (an epoch's shuffle; a permutation of 0 … pairs−1).
	SetOrder(order []int) error
	// Step queues optimisation step number step (0-based, global across
	// epochs) on the pairs order[lo:hi]. It may return before the step has
	// run: an error of a queued step comes back from Loss at the latest.
	Step(lo, hi int, step uint64) error
	// Loss waits for the queued steps and returns the pair-weighted mean loss
	// of the steps since the last call (its terms averaged over the pairs),
	// then starts a new sum. A step whose loss is not finite is not taken,
	// nor any after it: that comes back as a *NonFiniteError naming it.
	Loss() (networks.Loss, error)
	// State returns the current parameters and optimiser state (copies, in
	// float64 whatever the device computes in).
	State() (*State, error)
	// SetState restores a state returned by State (for --resume).
	SetState(*State) error
	// Close releases what the backend holds (device memory, its context).
	Close() error
}

// Prober is implemented by backends that can evaluate the loss and the
// parameter gradient of a step without taking it, so tests can compare
// backends on the same batch, parameters and interaction samples.
type Prober interface {
	// Probe returns the loss and the gradient (the layout of the parameters)
	// of step step on order[lo:hi] of the last SetOrder.
	Probe(lo, hi int, step uint64) (networks.Loss, []float64, error)
}

// State is everything a checkpoint needs to continue bit for bit.
type State struct {
	Params []float64 // the model's flat parameter buffer
	M, V   []float64 // Adam's first and second moments, same layout
	Steps  uint64    // optimisation steps taken
}

// Check reports whether the state fits a model with n parameters.
func (s *State) Check(n int, kind string) error {
	if len(s.Params) != n || len(s.M) != n || len(s.V) != n {
		return fmt.Errorf("checkpoint holds %d parameters, the %s model has %d", len(s.Params), kind, n)
	}
	return nil
}

// Factory builds a backend for the model and problem.
type Factory func(net *networks.Net, p *Problem, s Settings) (Backend, error)

// Registration is a backend in the registry.
type Registration struct {
	Name string
	// Available says whether the backend can run here, and if not why; a
	// device backend also returns a one-line description of the device.
	Available func() (device string, err error)
	New       Factory
}

var registry = map[string]Registration{}

// Register adds a backend; accelerated backends register themselves from an
// init function of their package.
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

// ErrUnavailable wraps the reason a named device cannot be used.
var ErrUnavailable = errors.New("unavailable")

// Resolve maps a --device value to a registered, available backend. "auto"
// prefers cuda and falls back to cpu. note is one line for the user: the
// device "auto" chose and, for the CPU, why.
func Resolve(device string) (r Registration, note string, err error) {
	if device == "auto" {
		c, ok := registry["cuda"]
		if !ok {
			return registry["cpu"], "device auto: using the CPU (this build has no CUDA backend)", nil
		}
		name, err := c.Available()
		if err != nil {
			return registry["cpu"], fmt.Sprintf("device auto: using the CPU (CUDA unavailable: %v)", err), nil
		}
		return c, "device auto: using CUDA on " + name, nil
	}
	r, ok := registry[device]
	if !ok {
		return r, "", fmt.Errorf("--device: unknown device %q (this build has: auto, %s)", device, strings.Join(Backends(), ", "))
	}
	name, err := r.Available()
	if err != nil {
		return r, "", fmt.Errorf("--device %s: %w: %w", device, ErrUnavailable, err)
	}
	if name != "" {
		note = fmt.Sprintf("device %s: %s", device, name)
	}
	return r, note, nil
}
