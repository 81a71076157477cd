package cuda

import (
	"github.com/jkonet-gpu/jkonet-gpu/engine"
	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
)

// The roofline model of a training step: the FLOPs and the device-memory
// bytes of each kernel of kernels/step.cu as it is written, from the network
// shapes (d → 64 → 64 → 1), the variant and the precision, against the
// device's peaks (peak.go). A kernel takes at least
//
//	max(FLOPs / arithmetic peak, bytes / memory bandwidth)
//
// and a step at least the sum over its kernels, which run one after another.
//
// FLOPs are those of the MLP kernels' matrix products, 2 a multiply-add
// (the activations, a few exp and log1p a hidden unit, and the other
// kernels' arithmetic, a few operations a byte, are left out: below any
// GPU's ridge point, those kernels are bound by their bytes). Bytes are the
// kernel's global loads and stores as written, each counted once: a block
// loads the network's parameters once, a pair's data is read once however
// many of its interaction rows use it, and the binary search of a row's pair
// is left out (a few cached words).

// StepShape is what a step's cost depends on.
type StepShape struct {
	D           int  // dimension of the points
	InV         int  // V's inputs: D, or D+1 for a time-dependent potential
	Interaction bool // the variant has the interaction network U
	Internal    bool // the variant has β
	Batch       int  // pairs of the step
	RowsU       int  // interaction rows of the step: Σ over its pairs of 2S, or of the target population's size
	Sets        int  // 2 with interaction subsamples, else 1
	MeanLanes   int  // pair_means' threads a mean (meanLanes; 0 counts as 1)
	Elem        int  // bytes a stored value: 4 (float32) or 8 (float64)
	GridFwd     int  // mlp_forward's blocks at most (mlpGrid)
	GridBwd     int  // mlp_backward's blocks at most
}

// KernelCost is one launch of a kernel in the model.
type KernelCost struct {
	Kernel string  // as in step.cu, without the precision suffix
	Blocks int     // of the launch
	FLOPs  float64 // of its matrix products
	Bytes  float64 // of device memory loaded and stored
}

// The multiply-adds a row of the MLP kernels (H = 64, in inputs, the
// gradient taken in its first dx):
//
//	forward pass (tile_forward): z1 = p W1 (in·H), z2 = h1 W2 (H²), a1 = g2 W2ᵀ (H²)
//	mlp_forward's output:        ∇V = g1 W1[:dx]ᵀ (dx·H)
//	tile_backward:               u1 = G W1[:dx] (dx·H), W̄1[:dx] += Gᵀ g1 (dx·H), u2 = c1 W2 (H²),
//	                             W̄2 += c1ᵀ g2 + h1ᵀ e2 (2H²), h̄1 = e2 W2ᵀ (H²), W̄1 += pᵀ e1 (in·H)
//
// mlp_backward recomputes the forward pass before tile_backward.
func forwardMultiplyAdds(in int) int { return in*hidden + 2*hidden*hidden }

func inputGradMultiplyAdds(dx int) int { return dx * hidden }

func backwardMultiplyAdds(in, dx int) int { return 2*dx*hidden + 4*hidden*hidden + in*hidden }

// MLPForwardFLOPs and MLPBackwardFLOPs are the FLOPs a row of mlp_forward
// and of mlp_backward.
func MLPForwardFLOPs(in, dx int) float64 {
	return 2 * float64(forwardMultiplyAdds(in)+inputGradMultiplyAdds(dx))
}

func MLPBackwardFLOPs(in, dx int) float64 {
	return 2 * float64(forwardMultiplyAdds(in)+backwardMultiplyAdds(in, dx))
}

// StepCosts are the launches of one step of shape s (queueGradient, then
// queueFinish; one process, no collective), in their order.
func StepCosts(s StepShape) []KernelCost {
	d, e := float64(s.D), float64(s.Elem)
	batch, rowsU, sets := float64(s.Batch), float64(s.RowsU), float64(s.Sets)
	countV := float64(networks.MLPParamCount(s.InV, hidden))
	countU, params := 0.0, countV
	if s.Interaction {
		countU = float64(networks.MLPParamCount(s.D, hidden))
		params += countU
	}
	if s.Internal {
		params++
	}
	timeBytes := 0.0 // time-potential's last input, a double a pair
	if s.InV > s.D {
		timeBytes = 8
	}
	tiles := func(rows int) int { return blocks(rows, tileRows) }
	pairBytes := 4 + d*e + timeBytes // a pair's order entry and target (and time)
	var out []KernelCost
	add := func(kernel string, grid int, flops, bytes float64) {
		out = append(out, KernelCost{Kernel: kernel, Blocks: grid, FLOPs: flops, Bytes: bytes})
	}

	// mlp_forward of V: a pair's target in, ∇V out.
	g := min(tiles(s.Batch), s.GridFwd)
	add("mlp_forward", g, batch*MLPForwardFLOPs(s.InV, s.D), float64(g)*countV*e+batch*(pairBytes+d*e))
	// Its target population's offsets and its row offset a pair (16 + 8 + 4
	// bytes), a population point in and ∇U out a row.
	uPairBytes := 4 + d*e + 28
	if s.Interaction {
		g := min(tiles(s.RowsU), s.GridFwd)
		add("mlp_forward", g, rowsU*MLPForwardFLOPs(s.D, s.D), float64(g)*countU*e+batch*uPairBytes+rowsU*2*d*e)
		// pair_means: ∇U's rows in, a mean per pair and set out (double).
		add("pair_means", meansGrid(s.Batch, s.Sets, s.D, max(s.MeanLanes, 1)), 0, batch*8+rowsU*d*e+batch*sets*d*8)
	}
	// residuals: x, y (and the score) and ∇V in, upV out, w and τ (doubles),
	// the interaction means in and upU out; a row of loss terms a block.
	lossBlocks := blocks(s.Batch, threads)
	perPair := 4 + 16 + 4*d*e
	if s.Internal {
		perPair += d * e
	}
	if s.Interaction {
		perPair += sets * d * (8 + e)
	}
	add("residuals", lossBlocks, 0, batch*perPair+float64(lossBlocks*engine.LossTerms*8))
	// mlp_backward: the parameters in and a partial gradient (double) out a
	// block; a pair's target and upstream in, or a population point a row.
	gv := min(tiles(s.Batch), s.GridBwd)
	add("mlp_backward", gv, batch*MLPBackwardFLOPs(s.InV, s.D), float64(gv)*countV*(e+8)+batch*(pairBytes+d*e))
	gu := 0
	if s.Interaction {
		gu = min(tiles(s.RowsU), s.GridBwd)
		add("mlp_backward", gu, rowsU*MLPBackwardFLOPs(s.D, s.D), float64(gu)*countU*(e+8)+batch*(uPairBytes+sets*d*e)+rowsU*d*e)
	}
	// reduce_partials: the partials in, the gradient out (doubles).
	sums := countV + countU
	add("reduce_partials", blocks(int(sums), threads), 0, 8*(float64(gv)*countV+float64(gu)*countU+sums))
	// finish_step: the loss rows and the gradient in (doubles), the
	// parameters and Adam's moments in and out.
	add("finish_step", 1, 0, float64(lossBlocks*engine.LossTerms*8)+8*params+6*e*params)
	return out
}

// StepFLOPs is the FLOPs of a step's kernels.
func StepFLOPs(costs []KernelCost) float64 {
	f := 0.0
	for _, c := range costs {
		f += c.FLOPs
	}
	return f
}

// RooflineSeconds is the least time of a step's kernels on a device of the
// given peaks in the step's precision (elem bytes a value), each kernel
// bound by its FLOPs or its bytes; 0 when a peak is unknown.
func (p Peaks) RooflineSeconds(costs []KernelCost, elem int) float64 {
	peak := p.FP32
	if elem == 8 {
		peak = p.FP64
	}
	if peak <= 0 || p.Bandwidth <= 0 {
		return 0
	}
	t := 0.0
	for _, c := range costs {
		t += max(c.FLOPs/peak, c.Bytes/p.Bandwidth)
	}
	return t
}

// stepShape is the shape of the backend's step on order[lo:hi].
func (b *backend) stepShape(lo, hi int) StepShape {
	s := StepShape{D: b.problem.D, InV: b.inV, Interaction: b.net.HasInteraction(), Internal: b.net.HasInternal(),
		Batch: hi - lo, Sets: 1, MeanLanes: b.meanLanes, Elem: b.elem, GridFwd: b.gridFwd, GridBwd: b.gridBwd}
	if s.Interaction {
		s.RowsU = int(b.rowStart[hi] - b.rowStart[lo])
		if b.settings.Samples > 0 {
			s.Sets = 2
		}
	}
	return s
}

// StepRoofline models the step on order[lo:hi] of the last SetOrder: its
// FLOPs and its least time on the device (0 where the device's peaks are
// unknown, as on the emulator), for bench's achieved FLOP/s and fraction of
// the roofline.
func (b *backend) StepRoofline(lo, hi int) (flops, seconds float64) {
	costs := StepCosts(b.stepShape(lo, hi))
	return StepFLOPs(costs), b.dev.Peaks().RooflineSeconds(costs, b.elem)
}
