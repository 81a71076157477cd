package density

import "math"

// Points are processed in blocks of blockSize stored coordinate-major
// (coordinate l of point i of a block at l·stride + i), so that the inner
// loops run over the points of a block: long, branch-free loops over flat
// slices.

// workspace holds one worker's per-block buffers, coordinate-major with
// stride blockSize.
type workspace struct {
	points []float64 // d×blockSize: the block's points (row-major input transposed)
	diff   []float64 // d×blockSize: points minus a mean
	white  []float64 // K×d×blockSize, or d×blockSize reused per component: L_k⁻¹(y − μ_k)
	post   []float64 // K×blockSize: log w_k + log N(y; μ_k, Σ_k), then posteriors
	logp   []float64 // blockSize: log p(y)
	tmp    []float64 // blockSize: scratch
}

// newWorkspace allocates a workspace for the mixture; withWhite keeps the
// whitened differences of every component (for the score).
func (m *Mixture) newWorkspace(withWhite bool) *workspace {
	k, d := len(m.weights), m.d
	white := d * blockSize
	if withWhite {
		white *= k
	}
	return &workspace{
		points: make([]float64, d*blockSize),
		diff:   make([]float64, d*blockSize),
		white:  make([]float64, white),
		post:   make([]float64, k*blockSize),
		logp:   make([]float64, blockSize),
		tmp:    make([]float64, blockSize),
	}
}

// toColumns writes the len(rows)/d row-major points of rows into dst
// coordinate-major: coordinate l of point i at dst[l*stride+i].
func toColumns(dst []float64, stride int, rows []float64, d int) {
	for i := 0; i < len(rows)/d; i++ {
		for l, v := range rows[i*d : (i+1)*d] {
			dst[l*stride+i] = v
		}
	}
}

// axpy adds a·x to y (len(y) ≥ len(x)).
func axpy(a float64, x, y []float64) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += a * v
	}
}

// combineColumns sets z_i = Σ_t a_t·x[t*stride+i] for i < len(z) and
// len(a) ≥ 1, two terms per pass over z.
func combineColumns(z, a, x []float64, stride int) {
	n := len(z)
	x0 := x[:n]
	t := 1
	if len(a)%2 == 1 {
		for i := range z {
			z[i] = a[0] * x0[i]
		}
	} else {
		c0, c1, x1 := a[0], a[1], x[stride:stride+n]
		x1 = x1[:len(z)]
		for i := range z {
			z[i] = c0*x0[i] + c1*x1[i]
		}
		t = 2
	}
	for ; t+1 < len(a); t += 2 {
		ca, cb := a[t], a[t+1]
		xa, xb := x[t*stride:t*stride+n], x[(t+1)*stride:(t+1)*stride+n]
		xa, xb = xa[:len(z)], xb[:len(z)]
		for i := range z {
			z[i] += ca*xa[i] + cb*xb[i]
		}
	}
}

// dot returns Σ_i a_i b_i (len(b) ≥ len(a)), with four partial sums.
func dot(a, b []float64) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		aa, bb := a[i:i+4:i+4], b[i:i+4:i+4]
		s0 += aa[0] * bb[0]
		s1 += aa[1] * bb[1]
		s2 += aa[2] * bb[2]
		s3 += aa[3] * bb[3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// subtractMean writes the nb points of x (coordinate-major, stride) minus mu
// into diff (coordinate-major, stride blockSize).
func subtractMean(x []float64, stride, nb int, mu, diff []float64) {
	for l, c := range mu {
		src := x[l*stride : l*stride+nb]
		dst := diff[l*blockSize : l*blockSize+nb]
		dst = dst[:len(src)]
		for i, v := range src {
			dst[i] = v - c
		}
	}
}

// posteriorBlock evaluates the nb ≤ blockSize points of x (coordinate-major,
// coordinate l of point i at x[l*stride+i]). It sets
//
//	ws.logp[i]            = log p(y_i) = logsumexp_k(logCoef_k − ½‖L_k⁻¹(y_i − μ_k)‖²),
//	ws.post[k*blockSize+i] = softmax_k(log w_k + log N(y_i; μ_k, Σ_k)),
//
// and, when ws.white holds every component, the whitened differences
// L_k⁻¹(y_i − μ_k) at ws.white[(k*d+j)*blockSize+i]. A point whose terms are
// all −∞ gets log p = −∞ and posteriors 0; a NaN coordinate gives NaN.
func (m *Mixture) posteriorBlock(x []float64, stride, nb int, ws *workspace) {
	d, tri := m.d, packedLen(m.d)
	keepWhite := len(ws.white) > d*blockSize
	maxLog := ws.logp[:nb]
	for i := range maxLog {
		maxLog[i] = math.Inf(-1)
	}
	for k, coef := range m.logCoef {
		subtractMean(x, stride, nb, m.means[k*d:(k+1)*d], ws.diff)
		white := ws.white[:d*blockSize]
		if keepWhite {
			white = ws.white[k*d*blockSize : (k+1)*d*blockSize]
		}
		// q_i = ‖L_k⁻¹(y_i − μ_k)‖², row j of L_k⁻¹ at a time.
		q := ws.tmp[:nb]
		clear(q)
		pc := m.precChol[k*tri : (k+1)*tri]
		for j := 0; j < d; j++ {
			w := white[j*blockSize : j*blockSize+nb]
			combineColumns(w, pc[j*(j+1)/2:j*(j+1)/2+j+1], ws.diff, blockSize)
			q = q[:len(w)]
			for i, v := range w {
				q[i] += v * v
			}
		}
		lp := ws.post[k*blockSize : k*blockSize+nb]
		lp, maxLog = lp[:len(q)], maxLog[:len(q)]
		for i, v := range q {
			lp[i] = coef - 0.5*v
			maxLog[i] = max(maxLog[i], lp[i])
		}
	}
	// Log-sum-exp over the components: p_i = Σ_k exp(lp_ki − max_i). A
	// point with every term −∞ takes max 0, so that its sum is 0 and its
	// log p = 0 + log 0 = −∞.
	for i, v := range maxLog {
		if math.IsInf(v, -1) {
			maxLog[i] = 0
		}
	}
	sum := ws.tmp[:nb]
	clear(sum)
	for k := range m.logCoef {
		lp := ws.post[k*blockSize : k*blockSize+nb]
		lp, sum = lp[:len(maxLog)], sum[:len(maxLog)]
		for i, mx := range maxLog {
			e := expNonPositive(lp[i] - mx)
			lp[i] = e
			sum[i] += e
		}
	}
	for i, s := range sum {
		if s > 0 {
			sum[i] = 1 / s
		}
		maxLog[i] += math.Log(s) // becomes log p
	}
	for k := range m.logCoef {
		post := ws.post[k*blockSize : k*blockSize+nb]
		post = post[:len(sum)]
		for i, inv := range sum {
			post[i] *= inv
		}
	}
}
