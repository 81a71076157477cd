package models

import (
	"fmt"
	"strings"
	"sync"
)

// The prediction schemes (docs/design.md §1, "Prediction"): a model steps
// where its training fitted ∇V.
const (
	// Explicit evaluates ∇V at the source x of each step: families fitted
	// at the source (linear, time-potential) and the true energy.
	Explicit = "explicit"
	// Implicit solves for ∇V at the target x′, where the JKO step's
	// optimality condition, and so the networks' loss, puts it.
	Implicit = "implicit"
)

// Family is one model family (a value of train's --model and of a model
// file's "kind"): everything the code outside the family's package needs to
// train, store, read and predict with its models. A family registers itself
// once, from its package's init, with RegisterFamily.
type Family struct {
	Name string
	// Scheme is the prediction step that matches the fit: Explicit or
	// Implicit.
	Scheme string
	// LearnsBeta says whether the model has a learned β worth reporting.
	LearnsBeta bool
	// MaxDim is the largest particle dimension the family takes, 0 for no
	// limit.
	MaxDim int
	// New rebuilds a model in dimension dim from its flat parameters (the
	// buffer Layout describes), checking their count.
	New func(dim int, params []float64) (Model, error)
	// Layout names the tensors of the flat parameter buffer of a model in
	// dimension dim, or says why there is no such model. It is called on
	// dimensions read from untrusted files before anything is allocated
	// from them, so it must not allocate in proportion to dim.
	Layout func(dim int) ([]ParamTensor, error)
	// FileMeta is descriptive metadata a model file stores beside the
	// tensors (e.g. the layers or the features), for readers of the file.
	FileMeta map[string]string
	// Fit, for a family solved in closed form, returns the parameters that
	// fit the pairs. It is nil for the families trained by gradient through
	// the engine's backends (the networks).
	Fit func(p *Pairs) ([]float64, error)
}

// Pairs is the data a closed-form Fit takes: coupling pairs (x_i → y_i,
// weight w_i) of transitions k, with the density score at the target and,
// for an interaction, the source snapshot of every transition.
type Pairs struct {
	D       int
	X, Y    []float64   // source and target of each pair, row-major pairs×D
	W       []float64   // coupling weight w_i ≥ 0
	Tau     []float64   // time step τ_k of the pair's transition
	Score   []float64   // density score s(y_i), pairs×D
	K       []int       // transition of each pair: an index into Sources
	Sources [][]float64 // source population of transition k, row-major n_k×D
}

// registry holds the families in the order they registered.
var registry struct {
	sync.RWMutex
	families []Family
}

// RegisterFamily adds a family to the table. It panics on a family without a
// name, New or Layout, or with a name already taken: both are programming
// errors, found at start-up.
func RegisterFamily(f Family) {
	if f.Name == "" || f.New == nil || f.Layout == nil {
		panic(fmt.Sprintf("models: family %q registered without a name, New or Layout", f.Name))
	}
	if f.Scheme != Explicit && f.Scheme != Implicit {
		panic(fmt.Sprintf("models: family %q registered with scheme %q, want %q or %q", f.Name, f.Scheme, Explicit, Implicit))
	}
	registry.Lock()
	defer registry.Unlock()
	for _, g := range registry.families {
		if g.Name == f.Name {
			panic(fmt.Sprintf("models: family %q registered twice", f.Name))
		}
	}
	registry.families = append(registry.families, f)
}

// LookupFamily is the registered family of that name.
func LookupFamily(name string) (Family, error) {
	registry.RLock()
	defer registry.RUnlock()
	for _, f := range registry.families {
		if f.Name == name {
			return f, nil
		}
	}
	return Family{}, fmt.Errorf("unknown model %q (expected one of: %s)", name, strings.Join(familyNames(), ", "))
}

// FamilyNames lists the registered families: those trained by gradient,
// then those fitted in closed form, each in the order they registered. Go
// initialises independent packages in the order of their import paths, so
// the split, not the registration, puts the networks (and the default
// model, jkonet-star) first.
func FamilyNames() []string {
	registry.RLock()
	defer registry.RUnlock()
	return familyNames()
}

func familyNames() []string {
	var gradient, closed []string
	for _, f := range registry.families {
		if f.Fit == nil {
			gradient = append(gradient, f.Name)
		} else {
			closed = append(closed, f.Name)
		}
	}
	return append(gradient, closed...)
}
