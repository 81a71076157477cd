package bench

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jkonet-gpu/jkonet-gpu/engine"
)

// processStart is when the program began, as near as a package can know:
// package variables are set before main, after the Go runtime's own start
// (a millisecond or so, not counted).
var processStart = time.Now()

// FirstStep is the time from the process's start to the end of its first
// training step on the GPU, in consecutive parts that add up to Total, and
// the kernels' image the driver loaded.
type FirstStep struct {
	Case  GPUCase    `json:"case"`
	Image string     `json:"image,omitempty"` // "SASS sm_90", "PTX compute_90, JIT-compiled", …
	Parts []TimePart `json:"parts"`
	Total float64    `json:"total_seconds"`
}

// TimePart is one part of the time to first step.
type TimePart struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// startupReporter is a backend that tells how its device opened
// (engine/cuda): when, the end of each phase after that, and the kernels'
// image.
type startupReporter interface {
	StartupPhases() (began time.Time, phases []string, ends []time.Duration, image string)
}

// firstStepCase is make run's shape: the potential in d = 2 over 8000 pairs
// (2000 particles, 5 snapshots), a step of 250 pairs.
var firstStepCase = GPUCase{Pairs: 8000, D: 2, Batch: engine.DefaultSettings().BatchSize, Seed: 1}

// TimeFirstStep builds the first backend of the process on gpu and times its
// first step (float32), queued and synchronised by reading its loss. It
// must be the process's first work on the GPU; the device itself may have
// been opened before (ResolveGPU opens it), and its opening is split, where
// the backend tells it (startupReporter), into the driver's init, the primary
// context, the kernels' module load (where the driver JIT-compiles PTX) and
// the rest of the kernels' setup.
func TimeFirstStep(gpu *Accelerator) (*FirstStep, error) {
	c := firstStepCase
	p := GPUProblem(c)
	began := time.Now()
	b, err := newBackend(c, p, gpu)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	if err := b.SetOrder(rand.New(rand.NewPCG(c.Seed, 1)).Perm(c.Pairs)); err != nil {
		return nil, err
	}
	uploaded := time.Now()
	if err := b.Step(0, c.Batch, 0); err != nil {
		return nil, err
	}
	if _, err := b.Loss(); err != nil {
		return nil, err
	}
	done := time.Now()

	fs := &FirstStep{Case: c}
	type mark struct {
		name string
		at   time.Time
	}
	var marks []mark
	if st, ok := b.(startupReporter); ok {
		var (
			began  time.Time
			phases []string
			ends   []time.Duration
		)
		began, phases, ends, fs.Image = st.StartupPhases()
		marks = append(marks, mark{"start to the driver", began})
		for i, name := range phases {
			marks = append(marks, mark{name, began.Add(ends[i])})
		}
	}
	marks = append(marks, mark{"until the backend", began}, mark{"upload", uploaded}, mark{"first step", done})
	prev := processStart
	for _, m := range marks {
		fs.Parts = append(fs.Parts, TimePart{Name: m.name, Seconds: m.at.Sub(prev).Seconds()})
		prev = m.at
	}
	fs.Total = done.Sub(processStart).Seconds()
	return fs, nil
}

// String is the time to first step in one line.
func (f *FirstStep) String() string {
	parts := make([]string, len(f.Parts))
	for i, p := range f.Parts {
		parts[i] = fmt.Sprintf("%s %.3f s", p.Name, p.Seconds)
	}
	s := fmt.Sprintf("time to first step (%s, float32): %.3f s from the process's start = %s", f.Case.Name(), f.Total, strings.Join(parts, " + "))
	if f.Image != "" {
		s += "; kernels loaded as " + f.Image
	}
	return s
}
