// Package zoo is the analytic test functions of the JKOnet* benchmark: the 15
// functions of the paper, each usable as a potential V or as an interaction
// kernel W, in any dimension d ≥ 1, with hand-written gradients.
package zoo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/jkonet-gpu/jkonet-gpu/models"
)

// The analytic zoo: the 15 test functions of the JKOnet* benchmark (docs/design.md
// §8.2), defined in every dimension d ≥ 1 and usable both as a potential V and as
// an interaction kernel W. Gradients are hand-written; at a kink (|·|, max, ‖v‖
// at 0) the kinked factor gets derivative 0.
//
// Half means: m1 is the mean of the first ⌊d/2⌋ coordinates and m2 the mean of
// the rest; in d = 1 both are the single coordinate.

// pointFunc returns f(v) and, when g is non-nil, writes ∇f(v) into g
// (len(g) == len(v)). It must not allocate.
type pointFunc func(v, g []float64) float64

var functions = []struct {
	name string
	at   pointFunc
}{
	{"styblinski_tang", separable(styblinskiTang).at},
	{"holder_table", holderTable},
	{"flowers", separable(flowers).at},
	{"oakley_ohagan", separable(oakleyOHagan).at},
	{"watershed", neighbourPairs(watershed).at},
	{"ishigami", halfMean(ishigami).at},
	{"friedman", halfMean(friedman).at},
	{"sphere", separable(sphere).at},
	{"bohachevsky", halfMean(bohachevsky).at},
	{"wavy_plateau", separable(wavyPlateau).at},
	{"zigzag_ridge", neighbourPairs(zigzagRidge).at},
	{"double_exp", doubleExp},
	{"relu", separable(relu).at},
	{"rotational", halfMean(rotational).at},
	{"flat", flat},
}

// Domain is the half-width of the box [−Domain, Domain]^d in which the
// benchmark's particles start (docs/design.md §8.1).
const Domain = 4.0

// Uniform draws n points uniformly in [−Domain, Domain]^d, row-major.
func Uniform(rng *rand.Rand, n, d int) []float64 {
	x := make([]float64, n*d)
	for i := range x {
		x[i] = -Domain + 2*Domain*rng.Float64()
	}
	return x
}

// Names lists the test functions in the order of docs/design.md §8.2.
func Names() []string {
	names := make([]string, len(functions))
	for i, z := range functions {
		names[i] = z.name
	}
	return names
}

// Get returns the named test function; it is defined in every dimension
// (Dim() == 0), stateless, and safe for concurrent use.
func Get(name string) (models.Energy, error) {
	for _, z := range functions {
		if z.name == name {
			return zooEnergy{z.at}, nil
		}
	}
	return nil, fmt.Errorf("unknown test function %q (want one of: %s)", name, strings.Join(Names(), ", "))
}

type zooEnergy struct{ at pointFunc }

func (zooEnergy) Dim() int { return 0 }

func (e zooEnergy) Eval(x []float64, d int, val, grad []float64) {
	for i := range len(x) / d {
		lo, hi := i*d, (i+1)*d
		var g []float64
		if grad != nil {
			g = grad[lo:hi:hi]
		}
		f := e.at(x[lo:hi:hi], g)
		if val != nil {
			val[i] = f
		}
	}
}

// separable is f(v) = Σ_i s(v_i); it returns s(t) and s′(t).
type separable func(t float64) (s, ds float64)

func (s separable) at(v, g []float64) float64 {
	var sum float64
	for i, t := range v {
		f, df := s(t)
		sum += f
		if g != nil {
			g[i] = df
		}
	}
	return sum
}

// neighbourPairs is f(v) = Σ_{i<d} p(v_i, v_{i+1}), zero in d = 1; it returns
// p(a, b), ∂p/∂a and ∂p/∂b.
type neighbourPairs func(a, b float64) (p, da, db float64)

func (p neighbourPairs) at(v, g []float64) float64 {
	clear(g)
	var sum float64
	for i := 0; i+1 < len(v); i++ {
		f, da, db := p(v[i], v[i+1])
		sum += f
		if g != nil {
			g[i] += da
			g[i+1] += db
		}
	}
	return sum
}

// halfMean is f(v) = h(m1, m2); it returns h, ∂h/∂m1 and ∂h/∂m2.
type halfMean func(m1, m2 float64) (h, d1, d2 float64)

func (h halfMean) at(v, g []float64) float64 {
	m1, m2 := halfMeans(v)
	f, d1, d2 := h(m1, m2)
	if g != nil {
		setHalfMeanGrad(g, d1, d2)
	}
	return f
}

func halfMeans(v []float64) (m1, m2 float64) {
	d := len(v)
	if d == 1 {
		return v[0], v[0]
	}
	k := d / 2
	for _, t := range v[:k] {
		m1 += t
	}
	for _, t := range v[k:] {
		m2 += t
	}
	return m1 / float64(k), m2 / float64(d-k)
}

// setHalfMeanGrad writes into g the gradient in v of a function of (m1, m2)
// with partials d1, d2: ∂m1/∂v_i = 1/⌊d/2⌋ on the first half, ∂m2/∂v_i =
// 1/(d − ⌊d/2⌋) on the rest, and in d = 1 both means are v_0.
func setHalfMeanGrad(g []float64, d1, d2 float64) {
	d := len(g)
	if d == 1 {
		g[0] = d1 + d2
		return
	}
	k := d / 2
	for i := range g {
		if i < k {
			g[i] = d1 / float64(k)
		} else {
			g[i] = d2 / float64(d-k)
		}
	}
}

// sign is the derivative of |t|, taken 0 at the kink.
func sign(t float64) float64 {
	switch {
	case t > 0:
		return 1
	case t < 0:
		return -1
	}
	return 0
}

// styblinskiTang: ½(t⁴ − 16t² + 5t) per coordinate.
func styblinskiTang(t float64) (float64, float64) {
	t2 := t * t
	return 0.5 * (t2*t2 - 16*t2 + 5*t), 2*t2*t - 16*t + 2.5
}

// holderTable: 10·|sin(m1)·cos(m2)·exp(|1 − ‖v‖/π|)|.
func holderTable(v, g []float64) float64 {
	m1, m2 := halfMeans(v)
	var r2 float64
	for _, t := range v {
		r2 += t * t
	}
	r := math.Sqrt(r2)
	s := math.Sin(m1) * math.Cos(m2)
	u := 1 - r/math.Pi
	e := math.Exp(math.Abs(u))
	f := 10 * math.Abs(s) * e
	if g == nil {
		return f
	}
	ds := 10 * sign(s) * e // ∂f/∂s
	setHalfMeanGrad(g, ds*math.Cos(m1)*math.Cos(m2), -ds*math.Sin(m1)*math.Sin(m2))
	if r > 0 { // ∇‖v‖ = v/‖v‖, taken 0 at v = 0
		dr := -f * sign(u) / math.Pi // ∂f/∂r
		for i, t := range v {
			g[i] += dr * t / r
		}
	}
	return f
}

// flowers: t + 2 sin(|t|^1.2) per coordinate.
func flowers(t float64) (float64, float64) {
	p := math.Pow(math.Abs(t), 0.2)
	a := math.Abs(t) * p // |t|^1.2
	return t + 2*math.Sin(a), 1 + 2.4*math.Cos(a)*p*sign(t)
}

// oakleyOHagan: 5(sin t + cos t + t² + t) per coordinate.
func oakleyOHagan(t float64) (float64, float64) {
	sin, cos := math.Sincos(t)
	return 5 * (sin + cos + t*t + t), 5 * (cos - sin + 2*t + 1)
}

// watershed: (a + a²(b + 4))/10 per neighbour pair (a, b) = (v_i, v_{i+1}).
func watershed(a, b float64) (float64, float64, float64) {
	return (a + a*a*(b+4)) / 10, (1 + 2*a*(b+4)) / 10, a * a / 10
}

// ishigami: sin a + 7 sin² b + 0.1 c⁴ sin a with a = m1, b = m2, c = (a+b)/2.
func ishigami(a, b float64) (float64, float64, float64) {
	sa, ca := math.Sincos(a)
	sb, cb := math.Sincos(b)
	c := (a + b) / 2
	c3 := c * c * c
	dc := 0.2 * c3 * sa // ∂(0.1 c⁴ sin a)/∂c · ∂c/∂a (= ∂c/∂b)
	return sa + 7*sb*sb + 0.1*c3*c*sa, ca*(1+0.1*c3*c) + dc, 14*sb*cb + dc
}

// friedman: with z = 2(v − 7), A = mean of z's first half = 2(m1 − 7) and
// B = (mean of z's second half)/2 = m2 − 7; p = A sin B, q = A cos B,
// r = B sin A: [10 sin(πAB) + 20(p − ½)² + 10(q − 1)² + 0.1 r]/100.
func friedman(m1, m2 float64) (float64, float64, float64) {
	a, b := 2*(m1-7), m2-7
	sa, ca := math.Sincos(a)
	sb, cb := math.Sincos(b)
	sab, cab := math.Sincos(math.Pi * a * b)
	p, q := a*sb, a*cb
	f := (10*sab + 20*(p-0.5)*(p-0.5) + 10*(q-1)*(q-1) + 0.1*b*sa) / 100
	da := (10*math.Pi*b*cab + 40*(p-0.5)*sb + 20*(q-1)*cb + 0.1*b*ca) / 100
	db := (10*math.Pi*a*cab + 40*(p-0.5)*a*cb - 20*(q-1)*a*sb + 0.1*sa) / 100
	return f, 2 * da, db // dA/dm1 = 2, dB/dm2 = 1
}

// sphere: −10t² per coordinate, i.e. −10‖v‖².
func sphere(t float64) (float64, float64) {
	return -10 * t * t, -20 * t
}

// bohachevsky: 10(m1² + 2m2² − 0.3 cos(3π m1) − 0.4 cos(4π m2)).
func bohachevsky(m1, m2 float64) (float64, float64, float64) {
	s1, c1 := math.Sincos(3 * math.Pi * m1)
	s2, c2 := math.Sincos(4 * math.Pi * m2)
	return 10 * (m1*m1 + 2*m2*m2 - 0.3*c1 - 0.4*c2),
		10 * (2*m1 + 0.9*math.Pi*s1),
		10 * (4*m2 + 1.6*math.Pi*s2)
}

// wavyPlateau: cos(πt) + ½t⁴ − 3t² + 1 per coordinate.
func wavyPlateau(t float64) (float64, float64) {
	s, c := math.Sincos(math.Pi * t)
	t2 := t * t
	return c + 0.5*t2*t2 - 3*t2 + 1, -math.Pi*s + 2*t2*t - 6*t
}

// zigzagRidge: (a − b)² + cos(a)(a + b) + a²b per neighbour pair
// (a, b) = (v_i, v_{i+1}).
func zigzagRidge(a, b float64) (float64, float64, float64) {
	s, c := math.Sincos(a)
	return (a-b)*(a-b) + c*(a+b) + a*a*b,
		2*(a-b) - s*(a+b) + c + 2*a*b,
		-2*(a-b) + c + a*a
}

// doubleExp: 200(exp(−‖v − 3·1‖²/20) + exp(−‖v + 3·1‖²/20)).
func doubleExp(v, g []float64) float64 {
	var p, q float64
	for _, t := range v {
		p += (t - 3) * (t - 3)
		q += (t + 3) * (t + 3)
	}
	ep, eq := math.Exp(-p/20), math.Exp(-q/20)
	for i := range g {
		g[i] = -20 * (ep*(v[i]-3) + eq*(v[i]+3))
	}
	return 200 * (ep + eq)
}

// relu: −50 max(0, t) per coordinate.
func relu(t float64) (float64, float64) {
	if t > 0 {
		return -50 * t, -50
	}
	return 0, 0
}

// rotational: −500 max(0, θ + π) with θ = atan2(m2 + 5, m1 + 5). atan2 lies in
// [−π, π], so the max is the identity; θ jumps by 2π across its branch cut
// (m2 = −5, m1 < −5), and the gradient is that of atan2 away from it.
func rotational(m1, m2 float64) (float64, float64, float64) {
	x, y := m1+5, m2+5
	f := -500 * (math.Atan2(y, x) + math.Pi)
	r2 := x*x + y*y
	if r2 == 0 { // atan2 has no gradient at its origin
		return f, 0, 0
	}
	return f, 500 * y / r2, -500 * x / r2 // ∇θ = (−y, x)/r²
}

// flat: 0.
func flat(_, g []float64) float64 {
	clear(g)
	return 0
}
