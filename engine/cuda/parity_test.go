package cuda

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/engine"
	"github.com/jkonet-gpu/jkonet-gpu/kernels/driver"
	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
	"github.com/jkonet-gpu/jkonet-gpu/ot/couplings"
)

// testDevices are the devices the parity tests run on: the CPU emulator
// (bin/libcuda-emu.so, built by make emulator; $JKONET_EMULATOR_LIB
// overrides the path) and, where one answers, the GPU of the system's
// libcuda. Without the emulator the tests skip, unless
// JKONET_REQUIRE_EMULATOR=1 (make test sets it), when they fail.
func testDevices(t *testing.T) []*Device {
	t.Helper()
	var devs []*Device
	lib := os.Getenv("JKONET_EMULATOR_LIB")
	if lib == "" {
		lib, _ = filepath.Abs("../../bin/libcuda-emu.so")
	}
	if _, err := os.Stat(lib); err != nil {
		if os.Getenv("JKONET_REQUIRE_EMULATOR") == "1" {
			t.Fatalf("the CUDA emulator %s is missing (make emulator): %v", lib, err)
		}
		t.Logf("no CUDA emulator at %s (make emulator builds it)", lib)
	} else {
		d, err := emulatorDevice(lib)
		if err != nil {
			t.Fatal(err)
		}
		devs = append(devs, d)
	}
	if d, err := gpuDevice(); err == nil {
		devs = append(devs, d)
	} else {
		t.Logf("no GPU: %v", err)
	}
	if len(devs) == 0 {
		t.Skip("neither the CUDA emulator nor a GPU is available")
	}
	return devs
}

// orderedDevice is a test device and the order in which the threads of a
// block run between barriers: on the emulator each of driver.ThreadOrders,
// so that a missing barrier shows in one of them; "" on a GPU.
type orderedDevice struct {
	*Device
	Order string
}

// orderedDevices are testDevices with the emulator once per thread order.
func orderedDevices(t *testing.T) []orderedDevice {
	t.Helper()
	var out []orderedDevice
	for _, d := range testDevices(t) {
		if !d.Emulated {
			out = append(out, orderedDevice{Device: d})
			continue
		}
		for _, o := range driver.ThreadOrders {
			out = append(out, orderedDevice{Device: d, Order: o})
		}
	}
	return out
}

// Label names the device and its thread order.
func (d orderedDevice) Label() string {
	if d.Order == "" {
		return d.Name
	}
	return d.Name + "/" + d.Order
}

// use sets the device's thread order for the launches that follow (until
// the next use; forward again when t ends) and returns the device.
func (d orderedDevice) use(t *testing.T) *Device {
	t.Helper()
	if d.Order != "" {
		if err := d.ctx.Driver().SetThreadOrder(d.Order); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.ctx.Driver().SetThreadOrder("forward") })
	}
	return d.Device
}

// The devices are opened once per test binary.
var (
	emulators = map[string]*Device{}
	gpu       *Device
	gpuErr    error
	gpuOpened bool
)

func emulatorDevice(lib string) (*Device, error) {
	if d, ok := emulators[lib]; ok {
		return d, nil
	}
	d, err := OpenDevice(lib, 0)
	if err == nil {
		emulators[lib] = d
	}
	return d, err
}

func gpuDevice() (*Device, error) {
	if !gpuOpened {
		gpu, gpuErr = OpenDevice("libcuda.so.1", 0)
		gpuOpened = true
	}
	return gpu, gpuErr
}

// parityProblem has three snapshots of n, n+5 and n−3 points in R^d, n
// pairs of consecutive snapshots with uneven weights and time steps, random
// scores, and snapshot times 0, 1, 3 (so time-potential sees uneven times).
func parityProblem(n, d int, seed uint64) *engine.Problem {
	rng := rand.New(rand.NewPCG(seed, 77))
	times := []float64{0, 1, 3}
	sizes := []int{n, n + 5, n - 3}
	pops := make([][]float64, len(times))
	for k := range pops {
		for range sizes[k] * d {
			pops[k] = append(pops[k], 2*rng.NormFloat64()+0.3*float64(k))
		}
	}
	c := &couplings.Couplings{D: d, Times: times}
	for k := 0; k+1 < len(times); k++ {
		perm := rng.Perm(sizes[k+1])
		for i := range n {
			c.X = append(c.X, pops[k][(i%sizes[k])*d:(i%sizes[k]+1)*d]...)
			j := perm[i%len(perm)]
			c.Y = append(c.Y, pops[k+1][j*d:(j+1)*d]...)
			c.W = append(c.W, (0.5+rng.Float64())/float64(n))
			c.K = append(c.K, int64(k))
			c.Tau = append(c.Tau, (times[k+1]-times[k])/1.5)
			for range d {
				c.Score = append(c.Score, rng.NormFloat64())
			}
		}
	}
	return &engine.Problem{D: d, Pairs: c, Populations: pops, MeanInterval: 1.5}
}

// pairBackends builds the CPU backend and the CUDA backend on dev for a
// fresh network of kind, with the same parameters (β set to 0.3 so its term
// is live) and order.
func pairBackends(t *testing.T, dev *Device, kind string, p *engine.Problem, s engine.Settings, order []int) (cpu, gpu engine.Backend) {
	t.Helper()
	mk := func() *networks.Net {
		net, err := networks.NewNet(kind, p.D, 5)
		if err != nil {
			t.Fatal(err)
		}
		if net.HasInternal() {
			net.Params[len(net.Params)-1] = 0.3
		}
		return net
	}
	reg, _, err := engine.Resolve("cpu")
	if err != nil {
		t.Fatal(err)
	}
	cs := s
	cs.Precision = ""
	if cpu, err = reg.New(mk(), p, cs); err != nil {
		t.Fatal(err)
	}
	if gpu, err = New(dev, mk(), p, s); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gpu.Close() })
	for _, b := range []engine.Backend{cpu, gpu} {
		if err := b.SetOrder(order); err != nil {
			t.Fatal(err)
		}
	}
	return cpu, gpu
}

// relDiff is ‖a − b‖ / ‖b‖.
func relDiff(a, b []float64) float64 {
	var num, den float64
	for i := range a {
		num += (a[i] - b[i]) * (a[i] - b[i])
		den += b[i] * b[i]
	}
	return math.Sqrt(num / den)
}

// TestProbeMatchesCPU: the loss and every parameter gradient of a step of
// the CUDA kernels agree with the CPU backend's on the same batch,
// parameters and interaction samples, for every network variant, exact and
// subsampled interaction means, in double (1e-10 relative) and float
// (1e-4 on the loss, 1e-3 norm-wise on the gradient). Each network's
// gradient is compared on its own, so a wrong U cannot hide behind a large V.
// On the emulator it runs in every thread order.
func TestProbeMatchesCPU(t *testing.T) {
	for _, od := range orderedDevices(t) {
		dev := od.use(t)
		for _, kind := range networks.Kinds() {
			for _, samples := range []int{0, 3} {
				for _, prec := range []string{engine.Float64, engine.Float32} {
					net, _ := networks.NewNet(kind, 2, 0)
					if samples > 0 && !net.HasInteraction() {
						continue
					}
					name := fmt.Sprintf("%s/%s/S%d/%s", od.Label(), kind, samples, prec)
					t.Run(name, func(t *testing.T) {
						d := map[string]int{"potential-interaction": 3, "time-potential": 7}[kind]
						d = max(d, 2)
						p := parityProblem(37, d, 1)
						s := engine.DefaultSettings()
						s.BatchSize, s.Samples, s.Precision, s.Seed = 30, samples, prec, 9
						order := rand.New(rand.NewPCG(3, 3)).Perm(p.Pairs.Len())
						cpu, gpu := pairBackends(t, dev, kind, p, s, order)
						lossTol, gradTol := 1e-10, 1e-10
						if prec == engine.Float32 {
							lossTol, gradTol = 1e-4, 1e-3
						}
						groups, _ := engine.ParamGroups(net, nil)
						for _, batch := range [][2]int{{0, 30}, {30, 60}, {60, 74}} {
							step := uint64(7 + batch[0])
							lc, gc, err := cpu.(engine.Prober).Probe(batch[0], batch[1], step)
							if err != nil {
								t.Fatal(err)
							}
							gc = append([]float64(nil), gc...)
							lg, gg, err := gpu.(engine.Prober).Probe(batch[0], batch[1], step)
							if err != nil {
								t.Fatal(err)
							}
							if r := math.Abs(lg.Value-lc.Value) / math.Abs(lc.Value); !(r <= lossTol) {
								t.Errorf("batch %v: loss %v on the GPU, %v on the CPU (relative %.2g)", batch, lg.Value, lc.Value, r)
							}
							for _, g := range groups {
								if r := relDiff(gg[g.Lo:g.Hi], gc[g.Lo:g.Hi]); !(r <= gradTol) {
									t.Errorf("batch %v: gradient of %s differs by %.2g (norm-wise)", batch, g.Name, r)
								}
							}
							for _, term := range [][2]float64{{lg.Potential, lc.Potential}, {lg.Internal, lc.Internal},
								{lg.Interaction, lc.Interaction}, {lg.Residual, lc.Residual}} {
								if math.Abs(term[0]-term[1]) > lossTol*(1+math.Abs(term[1])) {
									t.Errorf("batch %v: loss terms %+v on the GPU, %+v on the CPU", batch, lg, lc)
									break
								}
							}
						}
					})
				}
			}
		}
	}
}

// TestRowTableWraps: an MLP block's threads draw the row tables of its next
// 8 tiles at once, a row a thread, and pair_means sums sets of more rows
// than a block has threads in strides; with the exact interaction mean over
// targets of about 300 points and a batch of more pairs than the
// interaction forward kernel has blocks, every block takes more than 8 tiles
// (so draws again mid-step), and the loss and gradient of a step still agree
// with the CPU's to 1e-10 (float64). On the emulator it runs in every
// thread order.
func TestRowTableWraps(t *testing.T) {
	for _, od := range orderedDevices(t) {
		dev := od.use(t)
		t.Run(od.Label(), func(t *testing.T) {
			p := parityProblem(300, 2, 1)
			grid := mlpGrid(mlpOccupancy["_f64"].forward, dev.SharedPerSM, mlpSharedBytes(2, 2, 8), dev.SMs)
			batch := min(grid+10, p.Pairs.Len())
			if rows := batch * 297; rows <= 8*tileRows*grid {
				t.Fatalf("%d rows on %d blocks: no block takes more than 8 tiles", rows, grid)
			}
			s := engine.DefaultSettings()
			s.BatchSize, s.Samples, s.Precision, s.Seed = batch, 0, engine.Float64, 9
			order := rand.New(rand.NewPCG(3, 3)).Perm(p.Pairs.Len())
			cpu, gpu := pairBackends(t, dev, "jkonet-star", p, s, order)
			lc, gc, err := cpu.(engine.Prober).Probe(0, batch, 3)
			if err != nil {
				t.Fatal(err)
			}
			gc = append([]float64(nil), gc...)
			lg, gg, err := gpu.(engine.Prober).Probe(0, batch, 3)
			if err != nil {
				t.Fatal(err)
			}
			if r := math.Abs(lg.Value-lc.Value) / math.Abs(lc.Value); !(r <= 1e-10) {
				t.Errorf("loss %v on the GPU, %v on the CPU (relative %.2g)", lg.Value, lc.Value, r)
			}
			if r := relDiff(gg, gc); !(r <= 1e-10) {
				t.Errorf("gradient differs by %.2g (norm-wise)", r)
			}
		})
	}
}

// TestTrainingMatchesCPU: 20 epochs of float64 training on the device agree
// with the CPU backend's to 1e-6 in every parameter, for every network
// variant, with subsampled interaction, β and a short last batch; the epoch
// losses agree too. Each runs on the graph path (an epoch as one graph
// launch) and on the per-kernel path (JKONET_CUDA_GRAPH=0), which end with
// the same bits. On the emulator it runs in every thread order.
func TestTrainingMatchesCPU(t *testing.T) {
	for _, od := range orderedDevices(t) {
		dev := od.use(t)
		for _, kind := range networks.Kinds() {
			var graphParams []float64
			for _, path := range []string{"graph", "per-kernel"} {
				t.Run(od.Label()+"/"+kind+"/"+path, func(t *testing.T) {
					trainMatchesCPU(t, dev, kind, path, &graphParams)
				})
			}
		}
	}
}

// trainMatchesCPU is TestTrainingMatchesCPU on one launch path; the graph
// path leaves its parameters in *graph for the per-kernel path to match.
func trainMatchesCPU(t *testing.T, dev *Device, kind, path string, graph *[]float64) {
	if path == "graph" {
		t.Setenv(GraphEnv, "")
	} else {
		t.Setenv(GraphEnv, "0")
	}
	p := parityProblem(40, 2, 2)
	s := engine.DefaultSettings()
	s.Epochs, s.BatchSize, s.Samples, s.Precision, s.Seed, s.LR = 20, 35, 2, engine.Float64, 4, 3e-3
	cpu, gpu := pairBackends(t, dev, kind, p, s, nil)
	var losses [2][]float64
	for i, b := range []engine.Backend{cpu, gpu} {
		obs := engine.Observer{OnEpoch: func(r engine.EpochReport, _ engine.Backend) error {
			losses[i] = append(losses[i], r.Loss)
			return nil
		}}
		if err := engine.Train(context.Background(), b, p, s, obs); err != nil {
			t.Fatal(err)
		}
	}
	sc, _ := cpu.State()
	sg, err := gpu.State()
	if err != nil {
		t.Fatal(err)
	}
	if sc.Steps != sg.Steps || sc.Steps != 20*3 {
		t.Fatalf("steps: CPU %d, GPU %d, want 60", sc.Steps, sg.Steps)
	}
	for i := range sc.Params {
		if d := math.Abs(sc.Params[i] - sg.Params[i]); d > 1e-6*math.Max(1, math.Abs(sc.Params[i])) {
			t.Fatalf("parameter %d: CPU %v, GPU %v", i, sc.Params[i], sg.Params[i])
		}
	}
	for e := range losses[0] {
		if math.Abs(losses[0][e]-losses[1][e]) > 1e-6*losses[0][e] {
			t.Fatalf("epoch %d loss: CPU %v, GPU %v", e+1, losses[0][e], losses[1][e])
		}
	}
	if path == "graph" {
		*graph = sg.Params
		return
	}
	for i, v := range *graph {
		if sg.Params[i] != v {
			t.Fatalf("parameter %d: %v per kernel, %v on the graph path", i, sg.Params[i], v)
		}
	}
}

// TestGraphKeepsTheBits: with the exact interaction mean over targets of
// unequal sizes, a step's interaction rows vary with the order, so the
// captured epoch sizes its interaction grids for the largest step (here 2
// tiles where a step of 12 to 44 rows takes 1 or 2) and the extra blocks
// add zero partials; the graph path still ends with the per-kernel path's
// bits, in both precisions. On the emulator it runs in every thread order.
func TestGraphKeepsTheBits(t *testing.T) {
	for _, od := range orderedDevices(t) {
		dev := od.use(t)
		for _, prec := range []string{engine.Float32, engine.Float64} {
			t.Run(od.Label()+"/"+prec, func(t *testing.T) {
				p := parityProblem(6, 2, 3) // targets of 11 and 3 points
				s := engine.DefaultSettings()
				s.Epochs, s.BatchSize, s.Samples, s.Precision = 4, 4, 0, prec
				var states [2]*engine.State
				for i, env := range []string{"", "0"} {
					t.Setenv(GraphEnv, env)
					b := newOn(t, dev, "jkonet-star", p, s)
					if err := engine.Train(context.Background(), b, p, s, engine.Observer{}); err != nil {
						t.Fatal(err)
					}
					var err error
					if states[i], err = b.State(); err != nil {
						t.Fatal(err)
					}
				}
				g, k := states[0], states[1]
				for i := range g.Params {
					if g.Params[i] != k.Params[i] || g.M[i] != k.M[i] || g.V[i] != k.V[i] {
						t.Fatalf("parameter %d: %v on the graph path, %v per kernel", i, g.Params[i], k.Params[i])
					}
				}
			})
		}
	}
}
