package cuda

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"unsafe"

	"github.com/jkonet-gpu/jkonet-gpu/engine"
	"github.com/jkonet-gpu/jkonet-gpu/engine/collective"
	"github.com/jkonet-gpu/jkonet-gpu/kernels/driver"
	"github.com/jkonet-gpu/jkonet-gpu/models/networks"
)

// Launch geometry (kernels/step.cu).
const (
	threads       = 256 // per block, every kernel but finish_step
	finishThreads = 1024
	tileRows      = 32 // rows of an MLP tile
	hidden        = networks.HiddenWidth
)

// mlpOccupancy is how many blocks of the MLP kernels a multiprocessor holds
// by registers, per kernel suffix: the second argument of their
// __launch_bounds__ in kernels/step.cu, which caps ptxas at 64K / (256 ·
// blocks) registers a thread (TestKernelResources). A float64 block's
// shared memory leaves room for one on any GPU, so its kernels take up to
// 255 registers; float32 holds the forward kernel to 3 (80 registers) and
// the backward one to 2 (128). Shared memory may allow fewer (mlpGrid).
var mlpOccupancy = map[string]struct{ forward, backward int }{
	"_f32": {forward: 3, backward: 2},
	"_f64": {forward: 1, backward: 1},
}

// The epoch accumulators of finish_step (kernels/step.cu, enum Accum):
// accLoss to accPairs are engine.EpochMean's fields.
const (
	accLoss = iota
	accWeight
	accPotential
	accInternal
	accInteraction
	accResidual
	accPairs
	accBadStep
	accLast  // 5 values
	accCount = accLast + 5
)

// Row sources of the MLP kernels.
const (
	sourcePotential   = 0
	sourceInteraction = 1
)

// mlpSharedBytes is the dynamic shared memory of an MLP block (MlpShared in
// kernels/step.cu): the parameters, the tile's inputs and upstream, six
// tiles of activations, and a row table of 24 bytes a row.
func mlpSharedBytes(in, dx, elem int) int {
	ld := hidden + 1
	values := in*hidden + 3*hidden + hidden*ld + tileRows*(in+dx) + 6*tileRows*ld
	return (values*elem+7)/8*8 + tileRows*24
}

// meanLanes is pair_means' threads a mean (MeansArgs.lanes in step.cu): the
// least power of two at least a set's rows, up to a block, so that sets of
// a few rows (subsamples) share a block instead of idling most of one.
func meanLanes(setRows int) int {
	lanes := 1
	for lanes < setRows && lanes < threads {
		lanes *= 2
	}
	return lanes
}

// backend is the CUDA Backend of one model on one Device.
type backend struct {
	dev      *Device
	net      *networks.Net
	problem  *engine.Problem
	settings engine.Settings
	suffix   string // kernel suffix, "_f32" or "_f64"
	elem     int    // bytes per stored value
	groups   []engine.ParamGroup

	// The model's shape.
	inV, countV, countU, offU, betaIndex int

	maxBatch, maxRows   int    // pairs and interaction rows of the largest step
	pairRows            [2]int // interaction rows of a pair, at least and at most (the kernels' owner search)
	meanLanes           int    // pair_means' threads a mean (meanLanes)
	sharedV, sharedU    uint32 // dynamic shared memory of the MLP kernels
	gridFwd, gridBwd    int    // MLP blocks at most
	order               []int32
	rowStart            []int64      // prefix sums of the interaction rows per pair, in epoch order
	records             []stepRecord // the epoch's steps, as SetOrder uploaded them
	epochHost           []byte       // SetOrder's upload: records, order, row prefix sums
	taken               uint64       // steps taken (1 + the last step number queued)
	allocations         []driver.DevicePtr
	m                   deviceArrays
	accumHost           [accCount]float64
	flops               float64 // FLOPs of the kernels' arithmetic queued since the last Loss (see stepFLOPs)
	flopsPerPotRow      float64
	flopsPerInteractRow float64

	// JKONET_CUDA_SYNC=1: synchronise after every launch (launch); step is
	// the step being queued, for its errors.
	syncEach bool
	step     uint64

	// The epoch as one graph (graph.go): perKernel (JKONET_CUDA_GRAPH=0 or
	// JKONET_CUDA_SYNC=1) launches each kernel instead; pending are the
	// steps queued and not launched; epoch is the epoch's graph, segments a
	// data-parallel rank's (by step in the epoch and part), both launched
	// on stream; capturing is the stream being captured, nil when the
	// launches run.
	perKernel bool
	pending   []pendingStep
	epoch     *driver.GraphExec
	segments  map[[2]int]*driver.GraphExec
	stream    *driver.Stream
	capturing *driver.Stream

	// Data parallel (Join); nil for one process. Its host buffer serves a
	// host collective; a device one sums grad in place.
	shard *engine.ShardSum
	// disarm stops the collective's watchdog, armed over an epoch of
	// device sums (queueShared); nil when it is not armed.
	disarm func() error
	// summed is 1 + the last step whose device sum was queued: where a
	// failing rank's own sums (failDevice) begin.
	summed uint64
}

// deviceArrays are the backend's device memory.
type deviceArrays struct {
	// Resident: the pairs, the populations, the model and Adam.
	pairX, pairY, pairScore  driver.DevicePtr // P×d (stored type)
	pairW, pairTau, pairTime driver.DevicePtr // P doubles
	pairTarget               driver.DevicePtr // P int32: the target population
	pop, popStart            driver.DevicePtr // rows of d (stored type); int64 offsets
	params, adamM, adamV     driver.DevicePtr // stored type
	grad, accum              driver.DevicePtr // doubles; grad has room for the sum buffer (engine.SumLayout)
	// The epoch's records (one per step, and a spare for any other step:
	// recordOf), order (int32) and row prefix sums (int64), in one
	// allocation that SetOrder fills with one copy (epochLayout).
	epoch, records, order, rowStart driver.DevicePtr
	gradV, rowGrad, upV, upU        driver.DevicePtr // per-step workspaces (stored type)
	meanU, lossPartial              driver.DevicePtr // doubles
	partialV, partialU              driver.DevicePtr // per-block parameter gradients (doubles)
}

// New builds a backend for the model and problem on the device and uploads
// the data. Settings.Samples SamplesAuto takes the exact interaction mean
// when its workspace fits in half the free memory, else the largest
// power-of-two subsample (16 to 1024) that fits in a quarter.
func New(d *Device, net *networks.Net, p *engine.Problem, s engine.Settings) (engine.Backend, error) {
	b := &backend{dev: d, net: net, problem: p, settings: s, syncEach: os.Getenv(SyncEnv) == "1", perKernel: perKernelFromEnv()}
	if s.Precision == "" {
		b.settings.Precision = engine.Float32
	}
	b.suffix, b.elem = "_f32", 4
	if b.settings.Precision == engine.Float64 {
		b.suffix, b.elem = "_f64", 8
	}
	pairs := p.Pairs.Len()
	switch {
	case pairs == 0:
		return nil, errors.New("no coupling pairs to train on")
	case pairs > math.MaxInt32:
		return nil, fmt.Errorf("%d coupling pairs: the CUDA backend takes at most %d", pairs, math.MaxInt32)
	}
	for k, pop := range p.Populations {
		if n := len(pop) / p.D; n == 0 || n > math.MaxUint32 {
			return nil, fmt.Errorf("snapshot %d has %d points: the CUDA backend needs 1 to %d", k, n, uint32(math.MaxUint32))
		}
	}
	var err error
	if b.groups, err = engine.ParamGroups(net, s.Freeze); err != nil {
		return nil, err
	}
	b.shape()
	for _, sh := range []struct {
		in    int
		bytes *uint32
	}{{b.inV, &b.sharedV}, {p.D, &b.sharedU}} {
		need := mlpSharedBytes(sh.in, p.D, b.elem)
		if need > d.MaxShared {
			return nil, fmt.Errorf("the %s model in d = %d needs %d bytes of shared memory per block in %s, and %s has %d; use a smaller d or --precision float32",
				net.Kind, p.D, need, b.settings.Precision, d.Name, d.MaxShared)
		}
		*sh.bytes = uint32(need)
	}
	b.maxBatch = min(s.BatchSize, pairs)
	shared := int(max(b.sharedV, b.sharedU))
	occ := mlpOccupancy[b.suffix]
	b.gridFwd = mlpGrid(occ.forward, d.SharedPerSM, shared, d.SMs)
	b.gridBwd = mlpGrid(occ.backward, d.SharedPerSM, shared, d.SMs)
	// The MLP kernels' shared-memory limit is the device's, set at open.
	if err := d.ctx.Do(func() error {
		if err := b.chooseSamples(); err != nil {
			return err
		}
		return b.upload()
	}); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// sharedReservedPerBlock is the shared memory the system reserves for each
// resident block on compute capability 8.0 and newer.
const sharedReservedPerBlock = 1024

// mlpGrid is the most blocks of an MLP kernel the device runs at once:
// per multiprocessor, as many as its registers allow (byRegisters, from
// ptxas's figures; TestKernelResources) and its shared memory holds, at
// least one.
func mlpGrid(byRegisters, sharedPerSM, sharedPerBlock, sms int) int {
	byShared := sharedPerSM / (sharedPerBlock + sharedReservedPerBlock)
	return max(1, min(byRegisters, byShared)) * sms
}

// shape reads the model's layout: V's input width and parameter count, U's
// offset and count, β's index.
func (b *backend) shape() {
	net, d := b.net, b.problem.D
	b.inV = d
	if net.TimeDependent() {
		b.inV = d + 1
	}
	b.countV = networks.MLPParamCount(b.inV, hidden)
	b.offU, b.betaIndex = b.countV, -1
	if net.HasInteraction() {
		b.countU = networks.MLPParamCount(d, hidden)
	}
	if net.HasInternal() {
		b.betaIndex = b.countV + b.countU
	}
	// FLOPs of a row of mlp_forward and mlp_backward (roofline.go).
	b.flopsPerPotRow = MLPForwardFLOPs(b.inV, d) + MLPBackwardFLOPs(b.inV, d)
	b.flopsPerInteractRow = MLPForwardFLOPs(d, d) + MLPBackwardFLOPs(d, d)
}

// rowsPerPair is the number of interaction rows of pair q: 2S, or the size of
// its target population for the exact mean.
func (b *backend) rowsPerPair(q int) int {
	if s := b.settings.Samples; s > 0 {
		return 2 * s
	}
	return len(b.problem.Populations[b.problem.Pairs.K[q]+1]) / b.problem.D
}

// chooseSamples resolves SamplesAuto and sizes the interaction rows of the
// largest step: the maxBatch pairs with the most rows.
func (b *backend) chooseSamples() error {
	b.pairRows = [2]int{1, 1}
	b.meanLanes = 1
	if !b.net.HasInteraction() {
		b.settings.Samples = 0
		return nil
	}
	free, _, err := b.dev.MemInfo()
	if err != nil {
		return err
	}
	rowBytes := uint64(b.problem.D*b.elem) + 8 // rowGrad, plus a margin for the rest
	if b.settings.Samples == engine.SamplesAuto {
		b.settings.Samples = autoSamples(free, uint64(b.largestStepRows())*rowBytes, uint64(b.maxBatch)*rowBytes)
	}
	b.maxRows = b.largestStepRows()
	b.pairRows = [2]int{math.MaxInt, 0}
	for q := range b.problem.Pairs.Len() {
		r := b.rowsPerPair(q)
		b.pairRows = [2]int{min(b.pairRows[0], r), max(b.pairRows[1], r)}
	}
	b.meanLanes = meanLanes(b.pairRows[1])
	if s := b.settings.Samples; s > 0 {
		b.meanLanes = meanLanes(s)
	}
	if need := uint64(b.maxRows) * rowBytes; need > free {
		return fmt.Errorf("the interaction rows of a step need %.1f GiB and %s has %.1f GiB free; use --interaction-samples or a smaller --batch-size",
			float64(need)/(1<<30), b.dev.Name, float64(free)/(1<<30))
	}
	return nil
}

// autoSamples is the device's default interaction estimator: the exact mean
// (0) when a step's rows take at most half the free memory, else the largest
// subsample size S from 1024 down to 16 whose 2S rows per pair take at most a
// quarter; perPairBytes is the memory of one row of every pair of a step.
func autoSamples(free, exactBytes, perPairBytes uint64) int {
	if exactBytes <= free/2 {
		return 0
	}
	s := 1024
	for s > 16 && 2*uint64(s)*perPairBytes > free/4 {
		s /= 2
	}
	return s
}

// largestStepRows is the most interaction rows any maxBatch pairs have.
func (b *backend) largestStepRows() int {
	if s := b.settings.Samples; s > 0 {
		return b.maxBatch * 2 * s
	}
	rows := make([]int, b.problem.Pairs.Len())
	for q := range rows {
		rows[q] = b.rowsPerPair(q)
	}
	slices.Sort(rows)
	total := 0
	for _, r := range rows[len(rows)-b.maxBatch:] {
		total += r
	}
	return total
}

// alloc allocates bytes of device memory, freed by Close.
func (b *backend) alloc(bytes int) (driver.DevicePtr, error) {
	ptr, err := b.dev.ctx.Alloc(uint64(max(bytes, 8)))
	if err == nil {
		b.allocations = append(b.allocations, ptr)
	}
	return ptr, err
}

// storedBytes is the size of n values of the stored type.
func (b *backend) storedBytes(n int) int { return n * b.elem }

// putStored copies v to dst in the stored type.
func (b *backend) putStored(dst driver.DevicePtr, v []float64) error {
	if b.elem == 8 {
		return driver.CopyToDevice(b.dev.ctx, dst, v)
	}
	f := make([]float32, len(v))
	for i, x := range v {
		f[i] = float32(x)
	}
	return driver.CopyToDevice(b.dev.ctx, dst, f)
}

// getStored reads len(dst) values of the stored type from src.
func (b *backend) getStored(dst []float64, src driver.DevicePtr) error {
	if b.elem == 8 {
		return driver.CopyFromDevice(b.dev.ctx, dst, src)
	}
	f := make([]float32, len(dst))
	if err := driver.CopyFromDevice(b.dev.ctx, f, src); err != nil {
		return err
	}
	for i, x := range f {
		dst[i] = float64(x)
	}
	return nil
}

// upload allocates the device arrays and copies the data and the model.
func (b *backend) upload() error {
	p, c, d := b.problem, b.problem.Pairs, b.problem.D
	pairs := c.Len()
	var pop []float64
	popStart := []int64{0}
	for _, x := range p.Populations {
		pop = append(pop, x...)
		popStart = append(popStart, int64(len(pop)/d))
	}
	times, targets := make([]float64, pairs), make([]int32, pairs)
	for q := range pairs {
		times[q] = p.TargetTime(int(c.K[q]))
		targets[q] = int32(c.K[q] + 1)
	}
	m := &b.m
	nParams := len(b.net.Params)
	rowsU := max(b.maxRows, 1)
	for _, a := range []struct {
		ptr   *driver.DevicePtr
		bytes int
	}{
		{&m.pairX, b.storedBytes(pairs * d)}, {&m.pairY, b.storedBytes(pairs * d)}, {&m.pairScore, b.storedBytes(pairs * d)},
		{&m.pairW, 8 * pairs}, {&m.pairTau, 8 * pairs}, {&m.pairTime, 8 * pairs}, {&m.pairTarget, 4 * pairs},
		{&m.pop, b.storedBytes(len(pop))}, {&m.popStart, 8 * len(popStart)},
		{&m.params, b.storedBytes(nParams)}, {&m.adamM, b.storedBytes(nParams)}, {&m.adamV, b.storedBytes(nParams)},
		{&m.grad, 8 * engine.SumLayout{Params: nParams}.Len()}, {&m.accum, 8 * accCount},
		{&m.epoch, b.epochLayout().bytes},
		{&m.gradV, b.storedBytes(b.maxBatch * d)}, {&m.rowGrad, b.storedBytes(rowsU * d)},
		{&m.upV, b.storedBytes(b.maxBatch * d)}, {&m.upU, b.storedBytes(b.maxBatch * 2 * d)},
		{&m.meanU, 8 * b.maxBatch * 2 * d}, {&m.lossPartial, 8 * engine.LossTerms * blocks(b.maxBatch, threads)},
		{&m.partialV, 8 * b.gridBwd * b.countV}, {&m.partialU, 8 * b.gridBwd * max(b.countU, 1)},
	} {
		var err error
		if *a.ptr, err = b.alloc(a.bytes); err != nil {
			return err
		}
	}
	l := b.epochLayout()
	m.records, m.order, m.rowStart = m.epoch, m.epoch.Add(uint64(l.order)), m.epoch.Add(uint64(l.rowStart))
	for _, s := range []struct {
		dst driver.DevicePtr
		v   []float64
	}{{m.pairX, c.X}, {m.pairY, c.Y}, {m.pairScore, c.Score}, {m.pop, pop}, {m.params, b.net.Params},
		{m.adamM, make([]float64, nParams)}, {m.adamV, make([]float64, nParams)}} {
		if err := b.putStored(s.dst, s.v); err != nil {
			return err
		}
	}
	for _, s := range []struct {
		dst driver.DevicePtr
		v   []float64
	}{{m.pairW, c.W}, {m.pairTau, c.Tau}, {m.pairTime, times}} {
		if err := driver.CopyToDevice(b.dev.ctx, s.dst, s.v); err != nil {
			return err
		}
	}
	if err := driver.CopyToDevice(b.dev.ctx, m.pairTarget, targets); err != nil {
		return err
	}
	if err := driver.CopyToDevice(b.dev.ctx, m.popStart, popStart); err != nil {
		return err
	}
	return b.dev.ctx.Memset(m.accum, 8*accCount)
}

// blocks is ⌈n / per⌉.
func blocks(n, per int) int { return (n + per - 1) / per }

// meansGrid is pair_means' blocks: a mean a pair, set and column, threads/lanes
// means a block.
func meansGrid(batch, sets, d, lanes int) int { return blocks(batch*sets*d, threads/lanes) }

func (b *backend) Name() string              { return "cuda" }
func (b *backend) Settings() engine.Settings { return b.settings }

// stepRecord mirrors StepRecord (kernels/step.cu): what a step's kernels
// read of the step itself from device memory, so that the launches of an
// epoch's steps are the same from one epoch to the next.
type stepRecord struct {
	step         uint64
	wsum, c1, c2 float64 // Σw over the batch; Adam's 1 − β1ᵗ and 1 − β2ᵗ for t = step + 1
}

// stepRecordBytes is the size of a stepRecord on the device.
const stepRecordBytes = 32

// newStepRecord is the record of step on the pairs order[lo:hi].
func (b *backend) newStepRecord(lo, hi int, step uint64) stepRecord {
	var wsum float64
	for _, q := range b.order[lo:hi] {
		wsum += b.problem.Pairs.W[q]
	}
	t := float64(step + 1)
	return stepRecord{step: step, wsum: wsum, c1: 1 - math.Pow(engine.AdamBeta1, t), c2: 1 - math.Pow(engine.AdamBeta2, t)}
}

// epochLayout places the parts of the epoch's device memory, in bytes from
// its start: a record for each of the epoch's steps and a spare one
// (recordOf), the order, and the row prefix sums; upload is how much of
// it SetOrder copies (the prefix sums only for a model with interaction).
type epochLayout struct {
	steps, order, rowStart, upload, bytes int
}

func (b *backend) epochLayout() epochLayout {
	pairs := b.problem.Pairs.Len()
	l := epochLayout{steps: b.stepsPerEpoch()}
	l.order = (l.steps + 1) * stepRecordBytes
	l.rowStart = l.order + (4*pairs+7)/8*8
	l.bytes = l.rowStart + 8*(pairs+1)
	l.upload = l.rowStart
	if b.net.HasInteraction() {
		l.upload = l.bytes
	}
	return l
}

// stepsPerEpoch is the number of steps engine.Train takes an epoch.
func (b *backend) stepsPerEpoch() int {
	return max(1, (b.problem.Pairs.Len()+b.settings.BatchSize-1)/max(b.settings.BatchSize, 1))
}

// SetOrder uploads, in one copy, the order, the prefix sums of the rows of
// the pairs in that order (with interaction), and a record for each step
// engine.Train takes on it: the steps numbered from the epoch of the steps
// taken, on batches of BatchSize pairs.
func (b *backend) SetOrder(order []int) error {
	if err := b.dev.ctx.Do(b.flush); err != nil { // the steps of the last order first
		return err
	}
	b.order = b.order[:0]
	for _, q := range order {
		if q < 0 || q >= b.problem.Pairs.Len() {
			return fmt.Errorf("order names pair %d of %d", q, b.problem.Pairs.Len())
		}
		b.order = append(b.order, int32(q))
	}
	b.rowStart = append(b.rowStart[:0], 0)
	if b.net.HasInteraction() {
		for _, q := range b.order {
			b.rowStart = append(b.rowStart, b.rowStart[len(b.rowStart)-1]+int64(b.rowsPerPair(int(q))))
		}
	}
	l := b.epochLayout()
	per, batch := uint64(l.steps), b.settings.BatchSize
	first := b.taken / per * per
	b.records = b.records[:0]
	for k := 0; k < l.steps && k*batch < len(b.order); k++ {
		lo := k * batch
		b.records = append(b.records, b.newStepRecord(lo, min(lo+batch, len(b.order)), first+uint64(k)))
	}
	buf := slices.Grow(b.epochHost[:0], l.upload)[:l.upload]
	clear(buf)
	le := binary.LittleEndian
	for k, r := range b.records {
		at := buf[k*stepRecordBytes:]
		le.PutUint64(at, r.step)
		le.PutUint64(at[8:], math.Float64bits(r.wsum))
		le.PutUint64(at[16:], math.Float64bits(r.c1))
		le.PutUint64(at[24:], math.Float64bits(r.c2))
	}
	for i, q := range b.order {
		le.PutUint32(buf[l.order+4*i:], uint32(q))
	}
	if l.upload > l.rowStart {
		for i, r := range b.rowStart {
			le.PutUint64(buf[l.rowStart+8*i:], uint64(r))
		}
	}
	b.epochHost = buf
	return b.dev.ctx.Do(func() error { return driver.CopyToDevice(b.dev.ctx, b.m.epoch, buf) })
}

// recordOf is the device address of the record of step on order[lo:hi]:
// SetOrder's for a step engine.Train takes, else (a probe, another batch)
// the spare record, written now; the copy waits for the steps queued
// before it, which may read the spare record.
func (b *backend) recordOf(lo, hi int, step uint64) (driver.DevicePtr, error) {
	batch := b.settings.BatchSize
	if k := lo / batch; lo%batch == 0 && k < len(b.records) && hi == min(lo+batch, len(b.order)) && b.records[k].step == step {
		return b.m.records.Add(uint64(k * stepRecordBytes)), nil
	}
	r := b.newStepRecord(lo, hi, step)
	spare := b.m.records.Add(uint64(b.stepsPerEpoch() * stepRecordBytes))
	if err := driver.CopyToDevice(b.dev.ctx, spare, []uint64{r.step}); err != nil {
		return 0, err
	}
	return spare, driver.CopyToDevice(b.dev.ctx, spare.Add(8), []float64{r.wsum, r.c1, r.c2})
}

// Go mirrors of the kernels' argument structs (kernels/step.cu), field for
// field: every field is 8 bytes wide.
type (
	mlpArgs struct {
		params                             driver.DevicePtr
		in, dx, source, lo, batch          int64
		order, pairY, pairTime, pairTarget driver.DevicePtr
		rowStart                           driver.DevicePtr
		samples                            int64
		pop, popStart                      driver.DevicePtr
		seed                               uint64
		at                                 driver.DevicePtr // the stepRecord
		out, up, partial                   driver.DevicePtr
		minRows, maxRows                   int64
	}
	meansArgs struct {
		rowGrad, meanU, rowStart           driver.DevicePtr
		lo, d, samples, batch, sets, lanes int64
	}
	residualArgs struct {
		lo, batch, d, sets, interaction, internal, betaIndex int64
		at                                                   driver.DevicePtr
		order, pairX, pairY, pairScore, pairW, pairTau       driver.DevicePtr
		params, gradV, meanU, upV, upU, lossPartial          driver.DevicePtr
	}
	reduceArgs struct {
		partialV                 driver.DevicePtr
		blocksV, countV, offsetV int64
		partialU                 driver.DevicePtr
		blocksU, countU, offsetU int64
		grad                     driver.DevicePtr
	}
	finishArgs struct {
		lossPartial                 driver.DevicePtr
		lossBlocks, batch           int64
		at                          driver.DevicePtr
		betaIndex                   int64
		grad, accum                 driver.DevicePtr
		update                      int64
		params, m, v                driver.DevicePtr
		lr, beta1, beta2, eps, clip float64
		groups                      int64
		groupLo, groupHi, frozen    [3]int64
	}
)

// launch runs kernel name (with the precision suffix when suffixed) on a
// grid of gx × gy blocks.
// A launch error names the kernel, the step and its epoch; with
// JKONET_CUDA_SYNC=1 (syncEach) each launch is followed by a
// synchronisation, so that a kernel's fault, which a GPU reports at a later
// synchronisation (the epoch's loss read), is caught at its own launch.
func (b *backend) launch(name string, gx, gy, block int, shared uint32, args unsafe.Pointer) error {
	err := b.dev.functions[name].LaunchOn(b.capturing, driver.Dim3{X: uint32(gx), Y: uint32(gy)}, driver.Dim3{X: uint32(block)}, shared, args)
	if err == nil && b.syncEach {
		err = b.dev.ctx.Synchronize()
	}
	if err != nil {
		return fmt.Errorf("kernel %s, step %d (epoch %d): %w", name, b.step, b.epochOf(b.step), err)
	}
	return nil
}

// SyncEnv names the environment variable that makes the backend synchronise
// after every launch, to name the kernel, step and epoch of a fault.
const SyncEnv = "JKONET_CUDA_SYNC"

// epochOf is the epoch (from 1) of a global step number, as engine.Train
// numbers them.
func (b *backend) epochOf(step uint64) uint64 {
	per := uint64((b.problem.Pairs.Len() + b.settings.BatchSize - 1) / max(b.settings.BatchSize, 1))
	return step/max(per, 1) + 1
}

// queue queues step step on order[lo:hi]: the kernels of kernels/step.cu,
// with Adam when update is set (after Join, through queueShared).
func (b *backend) queue(lo, hi int, step uint64, update bool) error {
	if err := b.checkBatch(lo, hi, step); err != nil {
		return err
	}
	at, err := b.recordOf(lo, hi, step)
	if err != nil {
		return err
	}
	b.step = step
	if b.shard != nil {
		return b.queueShared(lo, hi, step, at, update)
	}
	lossBlocks, err := b.queueGradient(lo, hi, at)
	if err != nil {
		return err
	}
	return b.queueFinish(b.m.lossPartial, lossBlocks, hi-lo, at, update)
}

// checkBatch says what is wrong with a step on order[lo:hi], if anything.
func (b *backend) checkBatch(lo, hi int, step uint64) error {
	if lo < 0 || hi > len(b.order) || lo >= hi {
		return fmt.Errorf("step %d: pairs [%d, %d) of an order of %d", step, lo, hi, len(b.order))
	}
	if hi-lo > b.maxBatch {
		return fmt.Errorf("step %d: %d pairs, the backend was built for batches of at most %d", step, hi-lo, b.maxBatch)
	}
	return nil
}

// queueGradient queues the kernels up to the parameter gradient of
// order[lo:hi] (into grad, but β's) and the residual blocks' loss terms
// (into lossPartial, one row of engine.LossTerms a block, whose number it
// returns, in the order of the sum buffer's terms),
// with the pair weights w/Σw of the step's record at.
func (b *backend) queueGradient(lo, hi int, at driver.DevicePtr) (lossBlocks int, err error) {
	m, d := &b.m, b.problem.D
	batch := hi - lo
	rowsU := 0
	if b.net.HasInteraction() {
		rowsU = int(b.rowStart[hi] - b.rowStart[lo])
	}
	// A captured step's interaction grids are sized for the most rows a
	// step has, since its rows vary with the order; the blocks past the
	// step's tiles add zero partials after the others, so the sums are
	// those of the per-kernel path's grid.
	gridRowsU := rowsU
	if b.capturing != nil {
		gridRowsU = b.maxRows
	}
	sets := 1
	if b.net.HasInteraction() && b.settings.Samples > 0 {
		sets = 2
	}
	mlp := func(net int) mlpArgs {
		a := mlpArgs{params: m.params, in: int64(b.inV), dx: int64(d), source: sourcePotential,
			lo: int64(lo), batch: int64(batch), order: m.order, pairY: m.pairY, pairTime: m.pairTime,
			pairTarget: m.pairTarget, rowStart: m.rowStart, samples: int64(b.settings.Samples), pop: m.pop,
			popStart: m.popStart, seed: b.settings.Seed, at: at, minRows: int64(b.pairRows[0]), maxRows: int64(b.pairRows[1])}
		if net == sourceInteraction {
			a.params, a.in, a.source = m.params.Add(uint64(b.storedBytes(b.offU))), int64(d), sourceInteraction
		}
		return a
	}
	tiles := func(rows int) int { return blocks(rows, tileRows) }
	// Forward: ∇V, ∇U per row and its means.
	fv := mlp(sourcePotential)
	fv.out = m.gradV
	if err := b.launch("mlp_forward"+b.suffix, min(tiles(batch), b.gridFwd), 1, threads, b.sharedV, unsafe.Pointer(&fv)); err != nil {
		return 0, err
	}
	if b.net.HasInteraction() {
		fu := mlp(sourceInteraction)
		fu.out = m.rowGrad
		if err := b.launch("mlp_forward"+b.suffix, min(tiles(gridRowsU), b.gridFwd), 1, threads, b.sharedU, unsafe.Pointer(&fu)); err != nil {
			return 0, err
		}
		ma := meansArgs{rowGrad: m.rowGrad, meanU: m.meanU, rowStart: m.rowStart, lo: int64(lo), d: int64(d),
			samples: int64(b.settings.Samples), batch: int64(batch), sets: int64(sets), lanes: int64(b.meanLanes)}
		if err := b.launch("pair_means"+b.suffix, meansGrid(batch, sets, d, b.meanLanes), 1, threads, 8*threads, unsafe.Pointer(&ma)); err != nil {
			return 0, err
		}
	}
	// Residuals and the upstreams.
	lossBlocks = blocks(batch, threads)
	ra := residualArgs{lo: int64(lo), batch: int64(batch), d: int64(d), sets: int64(sets), betaIndex: int64(b.betaIndex),
		at: at, order: m.order, pairX: m.pairX, pairY: m.pairY, pairScore: m.pairScore, pairW: m.pairW,
		pairTau: m.pairTau, params: m.params, gradV: m.gradV, meanU: m.meanU, upV: m.upV, upU: m.upU, lossPartial: m.lossPartial}
	if b.net.HasInteraction() {
		ra.interaction = 1
	}
	if b.net.HasInternal() {
		ra.internal = 1
	}
	if err := b.launch("residuals"+b.suffix, lossBlocks, 1, threads, 8*threads, unsafe.Pointer(&ra)); err != nil {
		return 0, err
	}
	// Backward: parameter gradients, summed over the blocks.
	bv := mlp(sourcePotential)
	bv.up, bv.partial = m.upV, m.partialV
	gv := min(tiles(batch), b.gridBwd)
	if err := b.launch("mlp_backward"+b.suffix, gv, 1, threads, b.sharedV, unsafe.Pointer(&bv)); err != nil {
		return 0, err
	}
	red := reduceArgs{partialV: m.partialV, blocksV: int64(gv), countV: int64(b.countV), partialU: m.partialU,
		offsetU: int64(b.offU), grad: m.grad}
	b.flops += float64(batch) * b.flopsPerPotRow
	if b.net.HasInteraction() {
		bu := mlp(sourceInteraction)
		bu.up, bu.partial = m.upU, m.partialU
		gu := min(tiles(gridRowsU), b.gridBwd)
		if err := b.launch("mlp_backward"+b.suffix, gu, 1, threads, b.sharedU, unsafe.Pointer(&bu)); err != nil {
			return 0, err
		}
		red.blocksU, red.countU = int64(gu), int64(b.countU)
		b.flops += float64(rowsU) * b.flopsPerInteractRow
	}
	return lossBlocks, b.launch("reduce_partials", blocks(b.countV+b.countU, threads), 1, threads, 0, unsafe.Pointer(&red))
}

// queueFinish queues finish_step: the step's loss from lossBlocks rows of
// loss terms at lossPartial, β's gradient, clipping and Adam (bias
// corrections from the step's record at).
func (b *backend) queueFinish(lossPartial driver.DevicePtr, lossBlocks, batch int, at driver.DevicePtr, update bool) error {
	m := &b.m
	fa := finishArgs{lossPartial: lossPartial, lossBlocks: int64(lossBlocks), batch: int64(batch), at: at,
		betaIndex: int64(b.betaIndex), grad: m.grad, accum: m.accum, params: m.params, m: m.adamM, v: m.adamV,
		lr: b.settings.LR, beta1: engine.AdamBeta1, beta2: engine.AdamBeta2, eps: engine.AdamEpsilon, clip: b.settings.Clip,
		groups: int64(len(b.groups))}
	if update {
		fa.update = 1
	}
	for i, g := range b.groups {
		fa.groupLo[i], fa.groupHi[i] = int64(g.Lo), int64(g.Hi)
		if g.Frozen {
			fa.frozen[i] = 1
		}
	}
	return b.launch("finish_step"+b.suffix, 1, 1, finishThreads, 8*finishThreads, unsafe.Pointer(&fa))
}

// queueShared queues this rank's share order[slo:shi] of the batch
// (engine.ShardSum.Shard), sums over the ranks the buffer of
// engine.SumLayout in grad, then finish_step on the summed terms as one
// block of the whole batch. The residuals weigh the pairs by w/wsum with the
// whole batch's wsum, so each rank's gradient and terms are its part of the
// batch's (engine.TermLoss is (W_r/W)·L_r), and the sum is the batch's
// (engine.Parallel). β's entry of the summed gradient is not read:
// finish_step writes it from the summed engine.TermBeta. A rank with no
// pairs adds zeros. Through the host (MPI) every step waits for the GPU;
// in device memory (NCCL) only the epoch's last step does, when it reads
// back the stop flag, so a stop request (a signal) stops every rank at the
// end of an epoch.
func (b *backend) queueShared(lo, hi int, step uint64, at driver.DevicePtr, update bool) error {
	last := hi == len(b.order) || !update // the stop flag's step (a device sum's)
	w, watched := b.shard.Group().(collective.Watcher)
	if !watched {
		return b.queueSharedStep(lo, hi, step, at, update, last)
	}
	// --collective-timeout bounds the stretch from the epoch's first queued
	// step to the read-back of its last: the host queues ahead, and may
	// block anywhere in it once the GPU's queue is full.
	if b.disarm == nil {
		b.disarm = w.Arm()
	}
	err := b.queueSharedStep(lo, hi, step, at, update, last)
	if err != nil || last {
		terr := b.disarm()
		b.disarm = nil
		if terr != nil {
			return fmt.Errorf("step %d: %w", step, terr)
		}
	}
	return err
}

// queueSharedStep is queueShared's step; last says whether the stop flag
// joins its sum.
func (b *backend) queueSharedStep(lo, hi int, step uint64, at driver.DevicePtr, update, last bool) error {
	m, sum := &b.m, b.shard
	terms, stopAt := m.grad.Add(uint64(8*sum.Terms())), m.grad.Add(uint64(8*sum.Stop()))
	slo, shi := sum.Shard(lo, hi)
	counted := b.flops // a replayed segment queues no FLOPs: counted here
	if err := b.segment(lo, hi, step, segmentGradient, update, func() error {
		if shi == slo {
			return b.memset(m.grad, uint64(8*sum.Stop()))
		}
		lossBlocks, err := b.queueGradient(slo, shi, at)
		if err != nil {
			return err
		}
		red := reduceArgs{partialV: m.lossPartial, blocksV: int64(lossBlocks), countV: engine.LossTerms, offsetV: int64(sum.Terms()), grad: m.grad}
		return b.launch("reduce_partials", 1, 1, threads, 0, unsafe.Pointer(&red))
	}); err != nil {
		return err
	}
	b.flops = counted
	if shi > slo {
		b.flops += b.stepFLOPs(slo, shi)
	}
	switch g := sum.Group().(type) {
	case collective.Device:
		// The stop flag joins the sum of the epoch's last step only (and
		// of a probe), so that the host waits for the GPU once an epoch,
		// with the epoch's loss: the other steps sum a 0 there, set
		// without waiting (a memset of device memory does not block the
		// host), and queue ahead.
		if !last {
			if err := b.dev.ctx.Memset(stopAt, 8); err != nil {
				return err
			}
			if err := g.AllReduceSumDevice(uint64(m.grad), sum.Len(), 0); err != nil {
				return fmt.Errorf("step %d: %w", step, err)
			}
			b.summed = step + 1
			break
		}
		stop := []float64{sum.StopFlag()}
		if err := driver.CopyToDevice(b.dev.ctx, stopAt, stop); err != nil {
			return err
		}
		if err := g.AllReduceSumDevice(uint64(m.grad), sum.Len(), 0); err != nil {
			return fmt.Errorf("step %d: %w", step, err)
		}
		b.summed = step + 1
		if err := driver.CopyFromDevice(b.dev.ctx, stop, stopAt); err != nil {
			return err
		}
		if err := sum.Agree(stop[0], step); err != nil {
			return err
		}
	case collective.Collective: // through the host
		if err := driver.CopyFromDevice(b.dev.ctx, sum.Buf[:sum.Stop()], m.grad); err != nil {
			return err
		}
		if err := sum.Sum(step); err != nil {
			return err
		}
		if err := driver.CopyToDevice(b.dev.ctx, m.grad, sum.Buf[:sum.Stop()]); err != nil {
			return err
		}
	}
	return b.segment(lo, hi, step, segmentFinish, update, func() error { return b.queueFinish(terms, 1, hi-lo, at, update) })
}

// Join makes the backend one rank of g (engine.Parallel): a device
// collective (NCCL) sums in device memory, a host one (MPI) through the
// host copy of the sum buffer.
func (b *backend) Join(g collective.Group, stop func() bool) error {
	switch g.(type) {
	case collective.Device, collective.Collective:
	default:
		return fmt.Errorf("collective %s sums neither host nor device buffers", g.Name())
	}
	b.shard = engine.NewShardSum(g, stop, len(b.net.Params))
	return nil
}

func (b *backend) Joined() collective.Group { return b.shard.Group() }
func (b *backend) StopAgreed() bool         { return b.shard.StopAgreed() }

// FailPeers tells the other ranks this one failed (engine.PeerFailer):
// through the host (MPI) in the sum of step, where the others read the stop
// flag every step; in device memory (NCCL) in every sum from step to the
// end of its epoch (failDevice), since the others read it at the epoch's
// last step only.
func (b *backend) FailPeers(step uint64) error {
	if _, ok := b.shard.Group().(collective.Device); !ok {
		return b.shard.Fail(step)
	}
	return b.dev.ctx.Do(func() error { return b.failDevice(step) })
}

// failDevice is FailPeers under a device collective. The other ranks queue
// the epoch's sums ahead and read the summed stop flag back at its last
// step only, so this rank joins each of their remaining sums of the epoch,
// from step (or the first whose sum it has not queued yet, when it failed
// after queueing that step's) to the epoch's last, with a zero gradient and
// engine.FailFlag in the stop slot: then every other rank stops at that
// last step with an *engine.PeerFailedError, instead of waiting for this
// rank's sums until --collective-timeout. (Their updates in between lack
// this rank's share; the run ends with an error there, before any epoch
// callback, so no checkpoint holds them.) The stretch, and the wait for it
// at the end, run under the collective's watchdog, as an epoch does.
func (b *backend) failDevice(step uint64) error {
	g := b.shard.Group().(collective.Device)
	per := uint64((b.problem.Pairs.Len() + b.settings.BatchSize - 1) / max(b.settings.BatchSize, 1))
	per = max(per, 1)
	from := max(step, b.summed)
	last := (from/per+1)*per - 1
	if last >= uint64(b.settings.Epochs)*per {
		return nil // this rank failed after the last sum: the others are done
	}
	disarm := b.disarm
	b.disarm = nil
	if w, ok := g.(collective.Watcher); ok && disarm == nil {
		disarm = w.Arm()
	}
	sum, buf := b.shard, b.m.grad
	stopAt := buf.Add(uint64(8 * sum.Stop()))
	flag := []float64{engine.FailFlag}
	err := func() error {
		for s := from; s <= last; s++ {
			if err := b.dev.ctx.Memset(buf, uint64(8*sum.Stop())); err != nil {
				return err
			}
			if err := driver.CopyToDevice(b.dev.ctx, stopAt, flag); err != nil {
				return err
			}
			if err := g.AllReduceSumDevice(uint64(buf), sum.Len(), 0); err != nil {
				return fmt.Errorf("step %d: %w", s, err)
			}
			b.summed = s + 1
		}
		// Wait for the sums, under the watchdog: the others may be gone.
		return driver.CopyFromDevice(b.dev.ctx, flag, stopAt)
	}()
	if disarm != nil {
		if terr := disarm(); terr != nil {
			return terr
		}
	}
	return err
}

// Step queues the step; it does not wait for it. On the graph path it
// holds the step until the epoch's loss or state is asked for (flush).
func (b *backend) Step(lo, hi int, step uint64) error {
	if b.epochGraphs() {
		if err := b.checkBatch(lo, hi, step); err != nil {
			return err
		}
		b.pend(lo, hi, step)
		b.taken = step + 1
		return nil
	}
	return b.dev.ctx.Do(func() error {
		if err := b.queue(lo, hi, step, true); err != nil {
			return err
		}
		b.taken = step + 1
		return nil
	})
}

// readAccum copies the accumulators to the host (waiting for the queued
// steps).
func (b *backend) readAccum() error {
	return driver.CopyFromDevice(b.dev.ctx, b.accumHost[:], b.m.accum)
}

// lastLoss is the loss of the last step run, from the accumulators.
func (b *backend) lastLoss() networks.Loss {
	a := b.accumHost[accLast:]
	return networks.Loss{Value: a[0], Potential: a[1], Internal: a[2], Interaction: a[3], Residual: a[4]}
}

func (b *backend) Loss() (networks.Loss, error) {
	var loss networks.Loss
	err := b.dev.ctx.Do(func() error {
		if err := b.flush(); err != nil {
			return err
		}
		if err := b.readAccum(); err != nil {
			return err
		}
		a := &b.accumHost
		if bad := a[accBadStep]; bad != 0 {
			step := uint64(bad) - 1
			b.taken = step
			return engine.CheckFinite(b.lastLoss(), step)
		}
		e := engine.EpochMean{Loss: a[accLoss], Weight: a[accWeight], Potential: a[accPotential], Internal: a[accInternal],
			Interaction: a[accInteraction], Residual: a[accResidual], Pairs: a[accPairs]}
		loss = e.Mean()
		return b.dev.ctx.Memset(b.m.accum, 8*accLast)
	})
	return loss, err
}

// Probe runs the step's kernels without Adam and reads back the loss and
// the gradient.
func (b *backend) Probe(lo, hi int, step uint64) (networks.Loss, []float64, error) {
	grad := make([]float64, len(b.net.Params))
	var loss networks.Loss
	err := b.dev.ctx.Do(func() error {
		if err := b.flush(); err != nil {
			return err
		}
		if err := b.queue(lo, hi, step, false); err != nil {
			return err
		}
		if err := b.readAccum(); err != nil {
			return err
		}
		if err := driver.CopyFromDevice(b.dev.ctx, grad, b.m.grad); err != nil {
			return err
		}
		loss = b.lastLoss()
		return engine.CheckFinite(loss, step)
	})
	return loss, grad, err
}

// TakeFLOPs returns the floating-point operations of the kernels' MLP
// arithmetic queued since the last call (the forward passes, the recomputed
// forward of the backward passes and the backward passes), for achieved
// FLOP/s.
func (b *backend) TakeFLOPs() float64 {
	f := b.flops
	b.flops = 0
	return f
}

func (b *backend) State() (*engine.State, error) {
	n := len(b.net.Params)
	s := &engine.State{Params: make([]float64, n), M: make([]float64, n), V: make([]float64, n)}
	err := b.dev.ctx.Do(func() error {
		if err := b.flush(); err != nil {
			return err
		}
		if err := b.readAccum(); err != nil {
			return err
		}
		s.Steps = b.taken
		if bad := b.accumHost[accBadStep]; bad != 0 {
			s.Steps = uint64(bad) - 1
		}
		for _, a := range []struct {
			dst []float64
			src driver.DevicePtr
		}{{s.Params, b.m.params}, {s.M, b.m.adamM}, {s.V, b.m.adamV}} {
			if err := b.getStored(a.dst, a.src); err != nil {
				return err
			}
		}
		return nil
	})
	return s, err
}

func (b *backend) SetState(s *engine.State) error {
	if err := s.Check(len(b.net.Params), b.net.Kind); err != nil {
		return err
	}
	return b.dev.ctx.Do(func() error {
		if err := b.flush(); err != nil {
			return err
		}
		for _, a := range []struct {
			dst driver.DevicePtr
			src []float64
		}{{b.m.params, s.Params}, {b.m.adamM, s.M}, {b.m.adamV, s.V}} {
			if err := b.putStored(a.dst, a.src); err != nil {
				return err
			}
		}
		b.taken = s.Steps
		return b.dev.ctx.Memset(b.m.accum, 8*accCount)
	})
}

// Close frees the backend's device memory (the Device stays open).
func (b *backend) Close() error {
	if b.disarm != nil { // training ended mid-epoch
		b.disarm()
		b.disarm = nil
	}
	var first error
	b.pending = nil // steps never asked for
	err := b.dev.ctx.Do(func() error {
		first = b.closeGraphs()
		for _, ptr := range b.allocations {
			if err := b.dev.ctx.Free(ptr); err != nil && first == nil {
				first = err
			}
		}
		return nil
	})
	b.allocations = nil
	if err != nil {
		return err
	}
	return first
}
