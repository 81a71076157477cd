package bench

import (
	_ "embed"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jkonet-gpu/jkonet-gpu/ot"
)

//go:embed peers/ot_emd.py
var otEMDScript string

// OTCostTolerance is the largest relative difference between the optimal
// costs found by ot.Exact and POT that counts as equal (docs/architecture.md §7).
const OTCostTolerance = 1e-9

// potNumItermax is POT's network simplex iteration cap: far above what the
// cases need, so POT stops at the optimum, not at the cap.
const potNumItermax = 100_000_000

// OTCase is one exact-OT comparison: N source and M target points uniform
// on [0, 1]^D, squared Euclidean cost, uniform weights.
type OTCase struct {
	N, M, D int
	Seed    uint64
}

// Name is a short label such as "1500x2500 d2".
func (c OTCase) Name() string {
	return fmt.Sprintf("%dx%d d%d", c.N, c.M, c.D)
}

// DefaultOTCases are the cases of docs/architecture.md §7: n = m = 1000, 2000, 4000
// in d = 2 and d = 5, and 1500 × 2500 in d = 2; plus 2000 × 1999, the
// near-square shape (gcd 1) that snapshots split independently give.
func DefaultOTCases() []OTCase {
	var cases []OTCase
	for _, d := range []int{2, 5} {
		for _, n := range []int{1000, 2000, 4000} {
			cases = append(cases, OTCase{N: n, M: n, D: d, Seed: 1})
		}
	}
	return append(cases, OTCase{N: 1500, M: 2500, D: 2, Seed: 1}, OTCase{N: 2000, M: 1999, D: 2, Seed: 1})
}

// OTShapes are the shapes of issue 20, as --shapes names them: equal
// (n × n), unequal (n × 3n/2) and coprime (n × (n + 1)).
var OTShapes = []string{"equal", "unequal", "coprime"}

// OTShapeCases are the cases of each size n and dimension in the given
// shapes (nil: all of OTShapes), in the order of OTShapes.
func OTShapeCases(sizes, dims []int, shapes []string) []OTCase {
	if shapes == nil {
		shapes = OTShapes
	}
	var cases []OTCase
	for _, d := range dims {
		for _, n := range sizes {
			for s, m := range []int{n, 3 * n / 2, n + 1} {
				if slices.Contains(shapes, OTShapes[s]) {
					cases = append(cases, OTCase{N: n, M: m, D: d, Seed: 1})
				}
			}
		}
	}
	return cases
}

// potMemory is the most memory, in bytes, POT's side may need (its cost
// matrix, its plan and the cost recomputation, about 3·n·m·8 bytes): above
// it the comparison runs Go alone.
const potMemory = 6 << 30

// potFits reports whether POT's side of the case fits in potMemory.
func potFits(c OTCase) bool {
	return 3*int64(c.N)*int64(c.M)*8 <= potMemory
}

// OTData generates the source and target points of a case (row-major).
func OTData(c OTCase) (x, y []float64, err error) {
	if c.N < 1 || c.M < 1 || c.D < 1 {
		return nil, nil, fmt.Errorf("bench: OT case needs N, M, D ≥ 1, got %d, %d, %d", c.N, c.M, c.D)
	}
	rng := rand.New(rand.NewPCG(c.Seed, 0x6f742d62656e6368))
	x, y = make([]float64, c.N*c.D), make([]float64, c.M*c.D)
	for _, p := range [][]float64{x, y} {
		for i := range p {
			p[i] = rng.Float64()
		}
	}
	return x, y, nil
}

// OTResult compares ot.Exact with POT's ot.emd on one case: the median
// solver times over the repeats (Go: ot.Exact including its cost
// evaluations; POT: ot.emd alone, on a precomputed cost matrix), their ratio
// (below 1: Go is faster), and the optimal costs with their relative
// difference.
type OTResult struct {
	Case                  OTCase
	GoSeconds, POTSeconds float64
	Ratio                 float64
	GoCost, POTCost       float64
	RelCostDiff           float64
	POTWarning            string // POT's own warning, e.g. its iteration cap reached
	// Solver is the method ot.Exact used (ot.Solver); Certified says the
	// plan passed ot.Certify (its dual certificate on all n·m pairs), in
	// CertifySeconds; POTSkipped, that POT's cost matrix would not fit in
	// potMemory (Go ran alone).
	Solver         string
	Certified      bool
	CertifySeconds float64
	POTSkipped     bool
	// GoCPUSeconds and POTCPUSeconds are the median CPU times (user and
	// system, all threads) of the same runs, and CPURatio their ratio: on
	// a shared machine the wall times of both sides stretch with the load,
	// Go's two threads more than POT's one, while CPU time counts the work.
	GoCPUSeconds, POTCPUSeconds float64
	CPURatio                    float64
	// Phases adds up ot.Exact's phases over the timed runs: the shares of
	// its time that storing costs, candidate arcs, pivots or augmenting
	// paths, and pricing took.
	Phases ot.Phases
}

// Shares formats the phases' shares of Go's time, e.g. "costs 9%,
// candidates 31%, pivots 41%, pricing 19%".
func (r OTResult) Shares() string {
	p := r.Phases
	total := p.Total().Seconds()
	if total == 0 {
		return ""
	}
	steps := "augmenting paths"
	if r.Solver != "assignment" && !strings.HasPrefix(r.Solver, "assignment ") {
		steps = "pivots"
	}
	share := func(d time.Duration) int { return int(math.Round(100 * d.Seconds() / total)) }
	return fmt.Sprintf("costs %d%%, candidates %d%%, %s %d%%, pricing %d%%", share(p.Costs), share(p.Candidates), steps, share(p.Solve), share(p.Pricing))
}

// CostsAgree reports whether both solvers found the same optimal cost, to
// OTCostTolerance.
func (r OTResult) CostsAgree() bool {
	return r.Certified && (r.POTSkipped || r.RelCostDiff <= OTCostTolerance && r.POTWarning == "")
}

// String formats a result as one table row.
func (r OTResult) String() string {
	s := fmt.Sprintf("%-18s go %8.4fs  pot %8.4fs  ratio %5.2f  cpu ratio %5.2f  cost %.12g  rel diff %.1e",
		r.Case.Name(), r.GoSeconds, r.POTSeconds, r.Ratio, r.CPURatio, r.GoCost, r.RelCostDiff)
	if r.POTSkipped {
		s = fmt.Sprintf("%-18s go %8.4fs  pot (cost matrix over %d GiB: not run)  cost %.12g",
			r.Case.Name(), r.GoSeconds, potMemory>>30, r.GoCost)
	}
	cert := "certified"
	if !r.Certified {
		cert = "NOT certified"
	}
	s += fmt.Sprintf("  [%s: %s; %s in %.2fs]", r.Solver, r.Shares(), cert, r.CertifySeconds)
	if r.POTWarning != "" {
		s += "  POT: " + r.POTWarning
	}
	return s
}

// CompareExactOT solves every case with ot.Exact and with POT's ot.emd
// (numItermax 1e8). After one untimed Go run, Go and POT runs alternate
// repeats times, each POT run in a fresh Python process. It fails with an
// error wrapping ErrNoPeer when POT is missing.
func CompareExactOT(cases []OTCase, repeats int) ([]OTResult, error) {
	if repeats < 1 {
		return nil, fmt.Errorf("bench: repeats %d, want ≥ 1", repeats)
	}
	if err := PeerAvailable("ot", "scipy"); err != nil {
		return nil, err
	}
	results := make([]OTResult, 0, len(cases))
	for _, c := range cases {
		r, err := compareExactOTCase(c, repeats)
		if err != nil {
			return nil, fmt.Errorf("bench: OT %s: %w", c.Name(), err)
		}
		results = append(results, r)
	}
	return results, nil
}

func compareExactOTCase(c OTCase, repeats int) (OTResult, error) {
	res := OTResult{Case: c, Solver: ot.Solver(c.N, c.M, c.D), POTSkipped: !potFits(c)}
	x, y, err := OTData(c)
	if err != nil {
		return res, err
	}
	first, err := ot.Exact(x, y, c.D, ot.SqEuclidean)
	if err != nil {
		return res, err
	}
	start := time.Now()
	cerr := ot.Certify(x, y, c.D, ot.SqEuclidean, first)
	res.Certified, res.CertifySeconds = cerr == nil, time.Since(start).Seconds()
	args := map[string]any{"n": c.N, "m": c.M, "d": c.D, "num_itermax": potNumItermax}
	arrays := map[string][]float64{"x": x, "y": y}
	var goCPU, potCPU []float64
	solve := func() ([]float64, error) {
		start, cpu := time.Now(), processCPUSeconds()
		plan, err := ot.Exact(x, y, c.D, ot.SqEuclidean)
		if err != nil {
			return nil, err
		}
		goCPU = append(goCPU, processCPUSeconds()-cpu)
		res.GoCost = plan.Cost
		ph := plan.Phases
		res.Phases.Costs += ph.Costs
		res.Phases.Candidates += ph.Candidates
		res.Phases.Solve += ph.Solve
		res.Phases.Pricing += ph.Pricing
		return []float64{time.Since(start).Seconds()}, nil
	}
	runPOT := func() ([]float64, error) {
		var peer struct {
			Seconds    float64 `json:"seconds"`
			CPUSeconds float64 `json:"cpu_seconds"`
			Cost       float64 `json:"cost"`
			Warning    *string `json:"warning"`
		}
		if err := RunPeer(otEMDScript, args, arrays, &peer); err != nil {
			return nil, err
		}
		potCPU = append(potCPU, peer.CPUSeconds)
		res.POTCost = peer.Cost
		if peer.Warning != nil {
			res.POTWarning = *peer.Warning
		}
		return []float64{peer.Seconds}, nil
	}
	if res.POTSkipped {
		runPOT = func() ([]float64, error) { return []float64{math.NaN()}, nil }
	}
	if res.GoSeconds, res.POTSeconds, err = alternate(repeats, solve, runPOT); err != nil {
		return res, err
	}
	if res.POTSkipped {
		res.POTSeconds = 0
		return res, nil
	}
	res.Ratio = res.GoSeconds / res.POTSeconds
	res.GoCPUSeconds, res.POTCPUSeconds = median(goCPU), median(potCPU)
	res.CPURatio = res.GoCPUSeconds / res.POTCPUSeconds
	res.RelCostDiff = math.Abs(res.GoCost-res.POTCost) / math.Abs(res.POTCost)
	return res, nil
}

// processCPUSeconds returns the CPU time, user and system, that this
// process has used so far.
func processCPUSeconds() float64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return math.NaN()
	}
	return float64(usage.Utime.Nano()+usage.Stime.Nano()) / 1e9
}
