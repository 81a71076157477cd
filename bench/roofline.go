package bench

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/jkonet-gpu/jkonet-gpu/engine"
)

// RooflineCase is a step of one network variant in one precision, timed on
// the GPU against the roofline model of its kernels (engine/cuda's
// roofline.go).
type RooflineCase struct {
	Kind      string `json:"kind"`
	Precision string `json:"precision"`
	GPUCase
}

// Name is a short label such as "jkonet-star float64 d2 batch 250 U exact
// over 1000".
func (c RooflineCase) Name() string {
	s := fmt.Sprintf("%s %s d%d batch %d", c.Kind, c.Precision, c.D, c.Batch)
	if c.Targets > 0 {
		s += fmt.Sprintf(" U exact over %d", c.Targets)
	}
	return s
}

// The pairs of the roofline cases at most: an epoch at the default batch,
// and one step of the potential alone at a large batch; the interaction's
// large step takes fewer pairs, each of a whole target population's rows.
const (
	rooflineEpochPairs       = 10_000
	rooflineLargePairs       = 100_000
	rooflineLargeInteraction = 1_000
)

// rooflineKinds are the variants of the roofline cases: V alone, V and U,
// and V, U and β (the default model).
var rooflineKinds = []string{"potential", "potential-interaction", "jkonet-star"}

// RooflineCases are the steps timed against the roofline, in the first
// dimension of the epoch cases: each of rooflineKinds in float32 and
// float64, the interaction over the smallest target population with the
// exact mean, at the default batch (an epoch of the most pairs up to 10^4)
// and at a large batch (a step of the most pairs up to 10^5 for the
// potential, 10^3 with the interaction).
func RooflineCases(cases []GPUCase) []RooflineCase {
	if len(cases) == 0 {
		return nil
	}
	d, maxPairs, minTargets := cases[0].D, 0, 0
	for _, c := range cases {
		maxPairs = max(maxPairs, c.Pairs)
		if c.Targets > 0 && (minTargets == 0 || c.Targets < minTargets) {
			minTargets = c.Targets
		}
	}
	batch := engine.DefaultSettings().BatchSize
	var out []RooflineCase
	for _, kind := range rooflineKinds {
		targets, large := 0, min(maxPairs, rooflineLargePairs)
		if kind != "potential" {
			if minTargets == 0 {
				continue
			}
			targets, large = minTargets, min(maxPairs, rooflineLargeInteraction)
		}
		for _, precision := range []string{engine.Float32, engine.Float64} {
			pairs := min(maxPairs, rooflineEpochPairs)
			for _, c := range []GPUCase{
				{Pairs: pairs, D: d, Targets: targets, Batch: min(batch, pairs), Seed: 1},
				{Pairs: large, D: d, Targets: targets, Batch: large, Seed: 1},
			} {
				rc := RooflineCase{Kind: kind, Precision: precision, GPUCase: c}
				if !slices.Contains(out, rc) {
					out = append(out, rc)
				}
			}
		}
	}
	return out
}

// RooflineResult is a step's median time against the model: the model's
// FLOPs over the time (achieved FLOP/s) against the device's peak in the
// case's precision, and the roofline (the least time of the step's kernels)
// over the time. The peak and the roofline are 0 where the device's peaks
// are unknown (the emulator).
type RooflineResult struct {
	Case             RooflineCase `json:"case"`
	StepSeconds      float64      `json:"step_seconds"`
	FLOPs            float64      `json:"flops"`
	FLOPS            float64      `json:"flop_per_second"`
	Peak             float64      `json:"peak,omitempty"`
	PeakFraction     float64      `json:"fraction_of_peak,omitempty"`
	RooflineSeconds  float64      `json:"roofline_seconds,omitempty"`
	RooflineFraction float64      `json:"fraction_of_roofline,omitempty"`
	// Refused is why the device cannot run the case (float64 on a GPU
	// whose shared memory a block cannot hold it), or empty.
	Refused string `json:"refused,omitempty"`
}

// String formats a result as one table row.
func (r RooflineResult) String() string {
	if r.Refused != "" {
		return fmt.Sprintf("%-56s refused: %s", r.Case.Name(), r.Refused)
	}
	s := fmt.Sprintf("%-56s %9.3g s/step  %9.3g FLOP  %9.3g FLOP/s", r.Case.Name(), r.StepSeconds, r.FLOPs, r.FLOPS)
	if r.Peak <= 0 {
		return s + "  (peaks unknown: no roofline)"
	}
	return s + fmt.Sprintf("  %5.1f%% of peak  roofline %9.3g s: %5.1f%% of it", 100*r.PeakFraction, r.RooflineSeconds, 100*r.RooflineFraction)
}

// The backend's model of a step (engine/cuda: StepRoofline) and the peak
// of its device in its precision.
type (
	stepModel interface {
		StepRoofline(lo, hi int) (flops, seconds float64)
	}
	peakReporter interface{ PeakFLOPS() float64 }
)

// timeRoofline times steps of the case on the GPU (the median whole epoch
// over its steps, timeWholeEpochs) and sets them against the model's FLOPs
// and roofline, averaged over the epoch's steps. A case the
// backend refuses to build (a precision the device cannot hold) is a row
// that says so.
func timeRoofline(c RooflineCase, o GPUOptions) (RooflineResult, error) {
	res := RooflineResult{Case: c}
	b, err := newVariant(c.Kind, c.Precision, c.GPUCase, GPUProblem(c.GPUCase), o.GPU)
	if err != nil {
		res.Refused = err.Error()
		return res, nil
	}
	defer b.Close()
	model, ok := b.(stepModel)
	if !ok {
		return res, fmt.Errorf("the %s backend has no roofline model", o.GPU.Backend.Name)
	}
	steps := (c.Pairs + c.Batch - 1) / c.Batch
	epoch, err := timeWholeEpochs(b, c.GPUCase, rand.New(rand.NewPCG(c.Seed, 2)).Perm(c.Pairs), o.Repeats)
	if err != nil {
		return res, err
	}
	res.StepSeconds = epoch / float64(steps)
	for k := range steps {
		flops, seconds := model.StepRoofline(k*c.Batch, min((k+1)*c.Batch, c.Pairs))
		res.FLOPs += flops / float64(steps)
		res.RooflineSeconds += seconds / float64(steps)
	}
	res.FLOPS = res.FLOPs / res.StepSeconds
	res.RooflineFraction = res.RooflineSeconds / res.StepSeconds
	if p, ok := b.(peakReporter); ok {
		res.Peak = p.PeakFLOPS()
	}
	if res.Peak > 0 {
		res.PeakFraction = res.FLOPS / res.Peak
	}
	return res, nil
}

// Markdown is the report's GPU figures as the tables of README "GPU" (time
// to first step; steps against the roofline; epochs by launch path), header
// rows included, for
// gpu-check to print where they can be pasted; none without a GPU.
func (r *GPUReport) Markdown() []string {
	if r.Device == "" || r.FirstStep == nil {
		return nil
	}
	gpu := fmt.Sprintf("%s, %s", r.Device, r.Date)
	head, rule, row := "| GPU, date | image |", "|---|---|", fmt.Sprintf("| %s | %s |", gpu, r.FirstStep.Image)
	for _, p := range r.FirstStep.Parts {
		head += " " + p.Name + " (s) |"
		rule += "---:|"
		row += fmt.Sprintf(" %.3f |", p.Seconds)
	}
	lines := []string{head + " total (s) |", rule + "---:|", row + fmt.Sprintf(" %.3f |", r.FirstStep.Total), ""}
	lines = append(lines, "| GPU, date | variant | precision | d | batch | exact U over | s/step | model FLOP/step | FLOP/s | of peak | roofline s/step | of roofline |",
		"|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, f := range r.Roofline {
		c := f.Case
		targets := "—"
		if c.Targets > 0 {
			targets = fmt.Sprint(c.Targets)
		}
		if f.Refused != "" {
			lines = append(lines, fmt.Sprintf("| %s | %s | %s | %d | %d | %s | refused: %s | | | | | |", gpu, c.Kind, c.Precision, c.D, c.Batch, targets, f.Refused))
			continue
		}
		roofline := "— | — | —" // the peaks unknown (the emulator)
		if f.Peak > 0 {
			roofline = fmt.Sprintf("%.1f%% | %.3g | %.1f%%", 100*f.PeakFraction, f.RooflineSeconds, 100*f.RooflineFraction)
		}
		lines = append(lines, fmt.Sprintf("| %s | %s | %s | %d | %d | %s | %.3g | %.3g | %.3g | %s |",
			gpu, c.Kind, c.Precision, c.D, c.Batch, targets, f.StepSeconds, f.FLOPs, f.FLOPS, roofline))
	}
	lines = append(lines, "", "| GPU, date | case | s/epoch, "+GraphEnv+" unset (first) | s/epoch, "+GraphEnv+"=0 (first) | ratio |", "|---|---|---:|---:|---:|")
	for _, g := range r.Graph {
		if len(g.Paths) == 2 {
			a, b := g.Paths[0], g.Paths[1]
			lines = append(lines, fmt.Sprintf("| %s | %s | %.3g (%.3g) | %.3g (%.3g) | %.3g |", gpu, g.Case.Name(),
				a.EpochSeconds, a.FirstEpochSeconds, b.EpochSeconds, b.FirstEpochSeconds, a.EpochSeconds/b.EpochSeconds))
		}
	}
	return lines
}
