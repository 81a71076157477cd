// Package engine trains JKOnet* models. Run is the one entry point: it
// reads or computes the couplings, resolves --device to a backend through
// the registry (each backend registers its own device facts: auto's rank
// and probe, precisions, how a rank picks its device, its collectives),
// joins the ranks of a data-parallel run, resumes and writes checkpoints,
// and returns the model with its training record. Train shuffles the
// coupling pairs into batches and runs optimisation steps on a Backend (cpu
// and cpu-graph always; cuda registered by package engine/cuda, which finds
// the GPU at run time). Interaction samples come from the counter-based
// generator of package philox, keyed by (seed, step, pair, slot), so every
// backend draws the same samples and a resumed run repeats its steps. A
// backend that implements Parallel trains as one rank of a data-parallel
// group, summing across the ranks with package collective.
package engine

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/jkonet-gpu/jkonet-gpu/engine/collective"
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

// Registration is a backend in the registry, with the facts about its
// device that the rest of the program asks: whether and how --device auto
// may take it, the precisions it runs, how a rank picks its device, and
// which collectives can sum its buffers. Nothing outside a backend's own
// package names it: adding a backend is one package that registers itself
// and one import.
type Registration struct {
	Name string
	// Label names the device in one-line notes ("the CPU", "CUDA").
	Label string
	// Auto ranks the backend for --device auto, which takes the available
	// backend of highest rank; 0: auto never takes it.
	Auto int
	// Available says whether the backend can run here, and if not why; a
	// device backend also returns a one-line description of the device.
	// It is called only when the backend is asked for (by name or auto).
	Available func() (device string, err error)
	// Precisions are what the backend computes in, its default first.
	Precisions []string
	// PickDevice, if set, tells the backend how a rank of a node picks its
	// device among those visible (launch.Topology.Device); it is called
	// before Available when several ranks train.
	PickDevice func(pick func(visible int) (int, error))
	// Collectives are what can sum the backend's buffers across ranks, in
	// the order --collective auto prefers them.
	Collectives []CollectiveOffer
	New         Factory
}

// CollectiveOffer is a collective a backend can sum with.
type CollectiveOffer struct {
	Name string // collective.MPI, collective.NCCL
	// Unavailable says why the collective cannot be used here (nil: it
	// can); nil for one that is always tried.
	Unavailable func() error
	// Open joins this process to the ranks of j.Topology.
	Open func(j Joining) (group collective.Group, close func() error, err error)
}

// Runs reports whether the backend computes in precision.
func (r Registration) Runs(precision string) bool { return slices.Contains(r.Precisions, precision) }

// offers is the backend's collectives for collective.Choose.
func (r Registration) offers() []collective.Offer {
	var out []collective.Offer
	for _, c := range r.Collectives {
		o := collective.Offer{Name: c.Name}
		if c.Unavailable != nil {
			o.Unavailable = c.Unavailable()
		}
		out = append(out, o)
	}
	return out
}

// collectiveOffer is the backend's offer named name, if any.
func (r Registration) collectiveOffer(name string) (CollectiveOffer, bool) {
	for _, c := range r.Collectives {
		if c.Name == name {
			return c, true
		}
	}
	return CollectiveOffer{}, false
}

var registry = map[string]Registration{}

// Register adds a backend; accelerated backends register themselves from an
// init function of their package.
func Register(r Registration) { registry[r.Name] = r }

// Lookup is the registered backend name.
func Lookup(name string) (Registration, bool) {
	r, ok := registry[name]
	return r, ok
}

// Backends lists the registered backend names, sorted.
func Backends() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// autoOrder is the backends --device auto may take, highest rank first.
func autoOrder() []Registration {
	var rs []Registration
	for _, r := range registry {
		if r.Auto > 0 {
			rs = append(rs, r)
		}
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].Auto > rs[j].Auto })
	return rs
}

// DeviceUsage describes --device from the registry: its values and the
// order in which auto tries the backends.
func DeviceUsage() string {
	var labels []string
	for _, r := range autoOrder() {
		labels = append(labels, r.Label)
	}
	return fmt.Sprintf("where to train: auto, %s (auto: the first that answers of %s)", strings.Join(Backends(), ", "), strings.Join(labels, ", "))
}

// PrecisionUsage describes --precision from the registry: what each
// backend computes in, its default first.
func PrecisionUsage() string {
	var each []string
	for _, name := range Backends() {
		p := registry[name].Precisions
		if len(p) == 0 {
			continue
		}
		desc := p[0]
		if len(p) > 1 {
			desc += " (default), " + strings.Join(p[1:], ", ")
		}
		each = append(each, name+": "+desc)
	}
	return "what to compute in; " + strings.Join(each, "; ")
}

// ErrUnavailable wraps the reason a named device cannot be used.
var ErrUnavailable = errors.New("unavailable")

// Resolve maps a --device value to a registered, available backend. "auto"
// takes the available backend of highest Auto rank, so an accelerator
// before the CPU. note is one line for the user: the device chosen and,
// when auto passed over a backend, why.
func Resolve(device string) (r Registration, note string, err error) {
	if device == "auto" {
		return resolveAuto()
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

// resolveAuto probes the backends auto may take in order and takes the
// first that answers.
func resolveAuto() (Registration, string, error) {
	order := autoOrder()
	var passed []string
	for _, r := range order {
		desc, err := r.Available()
		if err != nil {
			passed = append(passed, fmt.Sprintf("%s unavailable: %v", r.Label, err))
			continue
		}
		switch {
		case desc != "":
			desc = fmt.Sprintf("device auto: using %s on %s", r.Label, desc)
		case len(passed) > 0:
			desc = fmt.Sprintf("device auto: using %s (%s)", r.Label, strings.Join(passed, "; "))
		case len(order) == 1:
			desc = fmt.Sprintf("device auto: using %s (this build has no accelerated backend)", r.Label)
		default:
			desc = "device auto: using " + r.Label
		}
		return r, desc, nil
	}
	return Registration{}, "", fmt.Errorf("--device auto: %w: %s", ErrUnavailable, strings.Join(passed, "; "))
}
