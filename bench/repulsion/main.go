// Command repulsion writes the snapshots of particles driven by a short-range
// repulsion alone: a flat potential, no diffusion, and the interaction kernel
//
//	W(v) = A·exp(−‖v‖²/(2σ²)),  ∇W(v) = −(A/σ²)·exp(−‖v‖²/(2σ²))·v,
//
// so particle i moves by dt·(1/N)·Σ_j (A/σ²)·exp(−‖x_i − x_j‖²/(2σ²))·(x_i − x_j):
// away from its neighbours within a few σ, and hardly at all from the rest.
// With σ a small fraction of the cloud's spread (particles start uniform on
// [−4, 4]^d) the interaction mean of each point is carried by few pairs,
// the case where a subsampled mean errs most (bench/interaction_samples.md).
// None of the zoo's 15 functions is such a kernel: double_exp's bumps sit at
// ±3·1, at the scale of the cloud. Otherwise it is `jkonet-gpu generate
// --potential flat` (same start, steps and file), with meta naming the
// kernel instead of a zoo energy, so that eval finds no recorded truth.
//
//	go run ./bench/repulsion -a 2000 -sigma 0.5 -particles 1000 -out gauss.npz
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"slices"

	"github.com/jkonet-gpu/jkonet-gpu/data/snapshot"
	"github.com/jkonet-gpu/jkonet-gpu/eval/simulate"
	"github.com/jkonet-gpu/jkonet-gpu/models/zoo"
)

// gaussian is the kernel W(v) = A·exp(−‖v‖²/(2σ²)) in every dimension: a
// repulsion for A > 0.
type gaussian struct{ a, sigma float64 }

func (gaussian) Dim() int { return 0 }

// Eval implements models.Energy.
func (g gaussian) Eval(x []float64, d int, val, grad []float64) {
	for i := range len(x) / d {
		v := x[i*d : (i+1)*d]
		var r2 float64
		for _, t := range v {
			r2 += t * t
		}
		w := g.a * math.Exp(-r2/(2*g.sigma*g.sigma))
		if val != nil {
			val[i] = w
		}
		if grad != nil {
			for k, t := range v {
				grad[i*d+k] = -w * t / (g.sigma * g.sigma)
			}
		}
	}
}

// meta is what the file records of its making.
type meta struct {
	Repulsion struct {
		A     float64 `json:"a"`
		Sigma float64 `json:"sigma"`
	} `json:"repulsion"`
	Seed      uint64    `json:"seed"`
	Dim       int       `json:"dim"`
	Particles int       `json:"particles"`
	Steps     int       `json:"steps"`
	DT        float64   `json:"dt"`
	Folded    []float64 `json:"folded"`
}

func main() {
	var m meta
	flag.Float64Var(&m.Repulsion.A, "a", 2000, "strength A > 0 of the repulsion")
	flag.Float64Var(&m.Repulsion.Sigma, "sigma", 0.5, "range σ > 0 of the repulsion")
	flag.Uint64Var(&m.Seed, "seed", 0, "random seed of the start")
	flag.IntVar(&m.Dim, "dim", 2, "dimension d")
	flag.IntVar(&m.Particles, "particles", 1000, "number of particles N")
	flag.IntVar(&m.Steps, "steps", 5, "number of steps T (T+1 snapshots)")
	flag.Float64Var(&m.DT, "dt", 0.01, "time step")
	out := flag.String("out", "", "output .npz (required)")
	flag.Parse()
	if err := run(m, *out); err != nil {
		fmt.Fprintln(os.Stderr, "repulsion:", err)
		os.Exit(1)
	}
}

func run(m meta, out string) error {
	switch {
	case out == "":
		return fmt.Errorf("-out: expected an output .npz path")
	case !(m.Repulsion.A > 0) || math.IsInf(m.Repulsion.A, 0):
		return fmt.Errorf("-a: expected a finite strength A > 0, got %v", m.Repulsion.A)
	case !(m.Repulsion.Sigma > 0) || math.IsInf(m.Repulsion.Sigma, 0):
		return fmt.Errorf("-sigma: expected a finite range σ > 0, got %v", m.Repulsion.Sigma)
	}
	flat, err := zoo.Get("flat")
	if err != nil {
		return err
	}
	res, err := simulate.Run(simulate.Config{
		Potential: flat, Interaction: gaussian{m.Repulsion.A, m.Repulsion.Sigma},
		Dim: m.Dim, Particles: m.Particles, Steps: m.Steps, DT: m.DT, Seed: m.Seed,
	})
	if err != nil {
		return err
	}
	m.Folded = res.Folded
	if worst := slices.Max(res.Folded); worst > simulate.FoldWarning {
		fmt.Fprintf(os.Stderr, "repulsion: warning: a step folds space for %.0f%% of the particles (a smaller -dt or -a avoids it)\n", 100*worst)
	}
	set := snapshot.FromTrajectories(res.X, m.Dim)
	set.DT = m.DT
	if set.Meta, err = json.Marshal(m); err != nil {
		return err
	}
	return set.Save(out)
}
