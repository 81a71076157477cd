// Package simulate generates the synthetic benchmark of the JKOnet* paper:
// particles that follow explicit Euler–Maruyama steps of a Wasserstein
// gradient flow of potential, interaction and internal (diffusion) energy.
package simulate

import (
	"fmt"
	"github.com/jkonet-gpu/jkonet-gpu/models/zoo"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/jkonet-gpu/jkonet-gpu/models"
	"github.com/jkonet-gpu/jkonet-gpu/ot"
)

// Config describes one synthetic run (docs/design.md §8.1).
type Config struct {
	Potential   models.Energy // V; required
	Interaction models.Energy // W; nil for none
	Beta        float64       // diffusion coefficient β ≥ 0
	Dim         int           // d ≥ 1
	Particles   int           // N ≥ 2
	Steps       int           // T ≥ 1: the run has T+1 snapshots
	DT          float64       // step size dt > 0
	Seed        uint64
	// Workers is the number of goroutines computing drifts; ≤ 0 means
	// GOMAXPROCS. The result does not depend on it.
	Workers int
	// OnStep, if set, is called after each step with the number of steps done.
	OnStep func(done int)
}

// Validate checks the configuration and names the first bad field.
func (c *Config) Validate() error {
	switch {
	case c.Potential == nil:
		return fmt.Errorf("potential: required")
	case c.Dim < 1:
		return fmt.Errorf("dim: expected d ≥ 1, got %d", c.Dim)
	case c.Particles < 2:
		return fmt.Errorf("particles: expected N ≥ 2, got %d", c.Particles)
	case c.Steps < 1:
		return fmt.Errorf("steps: expected T ≥ 1, got %d", c.Steps)
	case !(c.DT > 0) || math.IsInf(c.DT, 0):
		return fmt.Errorf("dt: expected a finite step size > 0, got %v", c.DT)
	case !(c.Beta >= 0) || math.IsInf(c.Beta, 0):
		return fmt.Errorf("beta: expected a finite β ≥ 0, got %v", c.Beta)
	}
	return nil
}

// Result is a simulated run.
type Result struct {
	// X holds the T+1 snapshots (N×d row-major; particle i is the same
	// trajectory in every snapshot).
	X [][]float64
	// Folded[k] is the fraction of particles whose drift step k → k+1 (before
	// the noise) folds space, ot.FoldedFraction: where it is above 0 no JKO
	// step, so no model JKOnet* can learn, reproduces the data, and the OT
	// couplings do not follow the trajectories. A smaller dt cures it.
	Folded []float64
}

// Run simulates T steps from X[0] uniform on [−4, 4]^d:
//
//	x ← x − dt·∇V(x) − dt·(1/N)·Σ_j ∇W(x − x_j) + √(2β·dt)·ξ,  ξ ~ N(0, I),
//
// where the mean runs over all N particles, self included (∇W(0) counts).
// Random numbers come from one PCG stream per (seed, step), drawn in
// particle order, so the result is the same whatever the number of workers.
func Run(c Config) (*Result, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	n, d := c.Particles, c.Dim
	x := zoo.Uniform(rand.New(rand.NewPCG(c.Seed, 0)), n, d)
	res := &Result{X: [][]float64{x}}
	drift := NewDrifter(c.Potential, c.Interaction, n, d, c.Workers)
	noiseScale := math.Sqrt(2 * c.Beta * c.DT)
	for step := 1; step <= c.Steps; step++ {
		next := make([]float64, n*d)
		drift.Compute(x, next) // next = drift(x)
		for i := range next {
			next[i] = x[i] - c.DT*next[i]
		}
		if err := checkDiverged(next, d, step, "drift"); err != nil {
			return nil, err
		}
		folded, err := ot.FoldedFraction(x, next, d)
		if err != nil {
			// The points are finite, so ot refused their range: they
			// flew apart too far to compare.
			return nil, fmt.Errorf("step %d: the particles diverged (use a smaller dt): %w", step, err)
		}
		res.Folded = append(res.Folded, folded)
		if noiseScale > 0 {
			noise := rand.New(rand.NewPCG(c.Seed, uint64(step)))
			for i := range next {
				next[i] += noiseScale * noise.NormFloat64()
			}
			if err := checkDiverged(next, d, step, "noise"); err != nil {
				return nil, err
			}
		}
		res.X = append(res.X, next)
		x = next
		if c.OnStep != nil {
			c.OnStep(step)
		}
	}
	return res, nil
}

// checkDiverged refuses a step that left a coordinate NaN or ±Inf (a dt or
// β too large for the energy): the snapshot could not be saved, and the
// error should say why rather than name the output file.
func checkDiverged(x []float64, d, step int, what string) error {
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("step %d: the simulation diverged: after the %s, particle %d has coordinate %d = %v (use a smaller dt or beta)", step, what, i/d, i%d, v)
		}
	}
	return nil
}

// Drifter computes the mean-field drift ∇V(x_i) + (1/N)·Σ_j ∇W(x_i − x_j) of
// every particle of a population of N (the mean runs over all particles, self
// included), parallel over blocks of particles with per-worker buffers
// allocated once: the O(N²) loop allocates nothing. Prediction uses it too.
type Drifter struct {
	v, w    models.Energy
	n, d    int
	workers int
	// per worker: the differences x_i − x_j for all j, and ∇W at them.
	diff, grad [][]float64
}

// NewDrifter prepares the drift of V and W (W may be nil) for populations of
// n points in dimension d on workers goroutines (≤ 0: GOMAXPROCS).
func NewDrifter(v, w models.Energy, n, d, workers int) *Drifter {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	dr := &Drifter{v: v, w: w, n: n, d: d, workers: workers}
	if w != nil {
		for k := 0; k < workers; k++ {
			dr.diff = append(dr.diff, make([]float64, n*d))
			dr.grad = append(dr.grad, make([]float64, n*d))
		}
	}
	return dr
}

// Compute writes the drift at x into out (both N×d). The result does not
// depend on the number of workers.
func (dr *Drifter) Compute(x, out []float64) {
	n, d := dr.n, dr.d
	dr.v.Eval(x, d, nil, out)
	if dr.w == nil {
		return
	}
	var wg sync.WaitGroup
	chunk := (n + dr.workers - 1) / dr.workers
	for k := 0; k < dr.workers; k++ {
		lo, hi := k*chunk, min((k+1)*chunk, n)
		if lo >= hi {
			break
		}
		wg.Add(1)
		go func(diff, grad []float64) {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				dr.addInteraction(x, i, diff, grad, out[i*d:(i+1)*d])
			}
		}(dr.diff[k], dr.grad[k])
	}
	wg.Wait()
}

// addInteraction adds (1/N)·Σ_j ∇W(x_i − x_j) to acc.
func (dr *Drifter) addInteraction(x []float64, i int, diff, grad, acc []float64) {
	n, d := dr.n, dr.d
	xi := x[i*d : (i+1)*d]
	for j := 0; j < n; j++ {
		xj, dj := x[j*d:(j+1)*d], diff[j*d:(j+1)*d]
		for a := range dj {
			dj[a] = xi[a] - xj[a]
		}
	}
	dr.w.Eval(diff, d, nil, grad)
	for a := 0; a < d; a++ {
		var s float64
		for j := 0; j < n; j++ {
			s += grad[j*d+a]
		}
		acc[a] += s / float64(n)
	}
}
