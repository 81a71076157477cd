package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jkonet-gpu/jkonet-gpu/engine"
	"github.com/jkonet-gpu/jkonet-gpu/internal/atomicfile"
)

// Options are what `jkonet-gpu bench` compares and how; its errors name the
// command's flags, which these fields are.
type Options struct {
	What    []string // the comparisons: ot, ot-scale, gmm, train, gpu (--what)
	Sizes   []int    // point counts n; nil: each comparison's defaults (--sizes)
	Repeats int      // timed runs per side; the median is reported (--repeats)
	// ot and ot-scale: the shapes of OTShapes to run (nil: all three for
	// ot, equal for ot-scale); ot-scale: the spatial block size to compare
	// the exact plan with (0: none).
	Shapes []string
	Block  int
	// The gpu comparison (and ot's dimensions): dimensions and target populations (nil: the
	// defaults), the time budget per case and device, the device (auto, cpu
	// or an accelerated backend's name), and a file for the JSON report
	// ("" none).
	Dims, Targets []int
	Seconds       float64
	Device        string
	JSON          string
}

// cpuName is the CPU backend's registry name: the side every comparison
// with the accelerated backend takes.
const cpuName = "cpu"

// Run checks o, then runs its comparisons in the order gpu, ot, ot-scale, gmm, train,
// printing each table to w as it comes: a title, then a row per case (or a
// note that the peer is not installed).
func Run(w io.Writer, o Options) error {
	if err := o.check(); err != nil {
		return err
	}
	if slices.Contains(o.What, "gpu") {
		if err := runGPU(w, o); err != nil {
			return err
		}
	}
	if slices.Contains(o.What, "ot") {
		cases := DefaultOTCases()
		if len(o.Sizes) > 0 {
			dims := []int{2, 5, 50}
			if o.Dims != nil {
				dims = o.Dims
			}
			cases = OTShapeCases(o.Sizes, dims, o.Shapes)
		}
		err := printComparison(w, "exact OT, squared Euclidean cost: jkonet-gpu ot.Exact vs POT ot.emd", cases,
			func(c []OTCase) ([]OTResult, error) { return CompareExactOT(c, o.Repeats) })
		if err != nil {
			return err
		}
	}
	if slices.Contains(o.What, "ot-scale") {
		sizes, dims, shapes := []int{100_000}, []int{5}, []string{"equal"}
		for _, f := range []struct{ dst, set *[]int }{{&sizes, &o.Sizes}, {&dims, &o.Dims}} {
			if *f.set != nil {
				*f.dst = *f.set
			}
		}
		if o.Shapes != nil {
			shapes = o.Shapes
		}
		err := printComparison(w, "exact OT at scale, squared Euclidean cost: ot.Exact once, ot.Certify, spatial blocks beside it (one run each, no peer)",
			OTShapeCases(sizes, dims, shapes), func(c []OTCase) ([]OTScaleResult, error) { return ExactOTAtScale(c, o.Block) })
		if err != nil {
			return err
		}
	}
	if slices.Contains(o.What, "gmm") {
		cases := DefaultMixtureCases()
		if len(o.Sizes) > 0 {
			for i := range cases {
				cases[i].N = o.Sizes[0]
			}
		}
		err := printComparison(w, "Gaussian mixture fit: jkonet-gpu density.FitMixture vs scikit-learn GaussianMixture", cases,
			func(c []MixtureCase) ([]MixtureResult, error) { return CompareMixture(c, o.Repeats) })
		if err != nil {
			return err
		}
	}
	if slices.Contains(o.What, "train") {
		cases := DefaultStepCases()
		if len(o.Sizes) > 0 {
			cases = StepCases(o.Sizes)
		}
		return printComparison(w, "jkonet-star training step: jkonet-gpu cpu backend vs PyTorch (CPU, float64, same threads)", cases,
			func(c []StepCase) ([]StepResult, error) { return CompareTrainingStep(c, o.Repeats) })
	}
	return nil
}

// check refuses what the comparisons cannot run with, before any runs.
func (o Options) check() error {
	for _, w := range o.What {
		if w != "ot" && w != "ot-scale" && w != "gmm" && w != "train" && w != "gpu" {
			return fmt.Errorf("--what: unknown comparison %q (expected ot, ot-scale, gmm, train, gpu)", w)
		}
	}
	for _, s := range o.Shapes {
		if !slices.Contains(OTShapes, s) {
			return fmt.Errorf("--shapes: unknown shape %q (expected %s)", s, strings.Join(OTShapes, ", "))
		}
	}
	if o.Block < 0 {
		return fmt.Errorf("--block: expected a block size ≥ 0, got %d", o.Block)
	}
	if o.Repeats < 1 {
		return fmt.Errorf("--repeats: expected at least 1, got %d", o.Repeats)
	}
	for _, n := range o.Sizes {
		if n < 2 {
			return fmt.Errorf("--sizes: expected point counts ≥ 2, got %d", n)
		}
	}
	return nil
}

// printComparison prints the title, then runs the comparison one case at
// a time and prints each case's row as soon as it is measured (a whole
// comparison takes minutes); a missing peer becomes a note, other errors
// stand.
func printComparison[C any, R fmt.Stringer](w io.Writer, title string, cases []C, compare func([]C) ([]R, error)) error {
	fmt.Fprintln(w, title)
	for i := range cases {
		results, err := compare(cases[i : i+1])
		if errors.Is(err, ErrNoPeer) {
			fmt.Fprintf(w, "  skipped: %v\n", err)
			return nil
		}
		if err != nil {
			return err
		}
		for _, r := range results {
			fmt.Fprintln(w, "  "+r.String())
		}
	}
	return nil
}

// runGPU runs the CPU-vs-GPU table (the CPU half alone without a GPU),
// and writes it as JSON to o.JSON.
func runGPU(w io.Writer, o Options) error {
	pairs, dims, targets := DefaultGPUPairs, DefaultGPUDims, DefaultGPUTargets
	for _, f := range []struct {
		name     string
		dst, set *[]int
	}{{"sizes", &pairs, &o.Sizes}, {"dims", &dims, &o.Dims}, {"targets", &targets, &o.Targets}} {
		if *f.set != nil {
			*f.dst = *f.set
			for _, v := range *f.dst {
				if v < 1 {
					return fmt.Errorf("--%s: expected positive values, got %d", f.name, v)
				}
			}
		}
	}
	if !(o.Seconds >= 0) || o.Seconds > 3600 {
		return fmt.Errorf("--seconds: expected a budget from 0 to 3600 s, got %v", o.Seconds)
	}
	if o.JSON != "" {
		if err := atomicfile.CheckWritable(o.JSON); err != nil { // a directory, a device, a FIFO: refused
			return fmt.Errorf("--json: %w", err)
		}
	}
	gpu, noGPU, err := ResolveGPU(o.Device)
	if err != nil {
		return err
	}
	cases := GPUCases(pairs, dims, targets)
	done := 0
	progress := func(r GPUResult) { // the table needs every case: meanwhile, one line per case
		done++
		line := fmt.Sprintf("  measured %d/%d: %s, cpu %.4g s/epoch", done, len(cases), r.Case.Name(), r.CPU.EpochSeconds)
		if r.GPU != nil {
			line += fmt.Sprintf(", %s %.4g s/epoch", acceleratedName(), r.GPU.EpochSeconds)
		}
		fmt.Fprintln(w, line)
	}
	rep, err := CompareGPU(cases, GPUOptions{Budget: time.Duration(o.Seconds * float64(time.Second)), Repeats: o.Repeats, GPU: gpu, Progress: progress,
		FirstStepProgress: func(f *FirstStep) { fmt.Fprintln(w, "  "+f.String()) }})
	if err != nil {
		return err
	}
	rep.NoGPU = noGPU
	fmt.Fprintf(w, "CPU vs GPU: JKOnet* training epochs, jkonet-gpu %s backend vs %s backend\n", cpuName, acceleratedName())
	for _, line := range rep.Lines() {
		fmt.Fprintln(w, "  "+line)
	}
	if md := rep.Markdown(); md != nil {
		fmt.Fprintln(w, "README \"GPU\" rows:")
		for _, line := range md {
			fmt.Fprintln(w, line)
		}
	}
	if o.JSON == "" {
		return nil
	}
	return atomicfile.Write(o.JSON, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	})
}

// ResolveGPU maps --device to the accelerated side of CompareGPU: with
// auto, the backend engine.Resolve takes unless that is the CPU (then nil,
// and why the backends auto prefers to the CPU are unavailable); with an
// accelerated backend's name, that backend or an error; with cpu, none.
func ResolveGPU(device string) (gpu *Accelerator, noGPU string, err error) {
	accelerated := accelerators()
	switch {
	case device == cpuName:
		return nil, "--device " + cpuName, nil
	case device == "auto":
		reg, _, err := engine.Resolve(device)
		if err != nil {
			return nil, "", err
		}
		if reg.Name != cpuName {
			desc, err := reg.Available()
			return &Accelerator{Backend: reg, Device: desc}, "", err
		}
		var why []string // auto took the CPU: say why not the others
		for _, reg := range accelerated {
			if _, err := reg.Available(); err != nil {
				why = append(why, err.Error())
			}
		}
		if len(why) == 0 {
			why = append(why, "this build has no accelerated backend")
		}
		return nil, strings.Join(why, "; "), nil
	}
	for _, reg := range accelerated {
		if reg.Name == device {
			desc, err := reg.Available()
			if err != nil {
				return nil, "", fmt.Errorf("--device %s: %w", device, err)
			}
			return &Accelerator{Backend: reg, Device: desc}, "", nil
		}
	}
	names := []string{"auto"}
	for _, reg := range accelerated {
		names = append(names, reg.Name)
	}
	return nil, "", fmt.Errorf("--device: bench --what gpu takes %s or %s, got %q", strings.Join(names, ", "), cpuName, device)
}

// accelerators are the registered backends that --device auto prefers to
// the CPU (a higher Auto rank), in the order auto tries them.
func accelerators() []engine.Registration {
	cpu, _ := engine.Lookup(cpuName)
	var out []engine.Registration
	for _, name := range engine.Backends() {
		if reg, _ := engine.Lookup(name); reg.Auto > cpu.Auto {
			out = append(out, reg)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Auto > out[j].Auto })
	return out
}

// acceleratedName names the accelerated side in the GPU table's title: the
// backend auto tries first, whether or not it is available here.
func acceleratedName() string {
	if accelerated := accelerators(); len(accelerated) > 0 {
		return accelerated[0].Name
	}
	return "no accelerated"
}
