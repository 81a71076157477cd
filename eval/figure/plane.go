package figure

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/jkonet-gpu/jkonet-gpu/models"
)

// Plane is the 2-D view of d-dimensional cells: a point x is drawn at
// (u, v) = (⟨x − Origin, Axes[0]⟩, ⟨x − Origin, Axes[1]⟩), and a point (u, v)
// of the figure stands for Origin + u·Axes[0] + v·Axes[1], where a potential
// is evaluated: off the plane, its coordinates are Origin's.
type Plane struct {
	D      int
	Origin []float64    // d
	Axes   [2][]float64 // two orthonormal d-vectors
	Labels [2]string    // axis names
}

// CoordinatePlane is the plane of the first two coordinates, drawn as they
// are; the other coordinates are held at rest's (the data mean; nil: 0).
func CoordinatePlane(d int, rest []float64) Plane {
	p := Plane{D: d, Origin: make([]float64, d), Labels: [2]string{"x₁", "x₂"}}
	if rest != nil {
		copy(p.Origin[2:], rest[2:])
	}
	for a := range p.Axes {
		p.Axes[a] = make([]float64, d)
		p.Axes[a][a] = 1
	}
	return p
}

// PrincipalPlane is the plane through the mean of the n points x (n×d)
// spanned by their first two principal axes: the eigenvectors of the two
// largest eigenvalues of their covariance, each signed so that its entry of
// largest magnitude is positive. The coordinates drawn are the first two
// principal component scores; the other components are held at 0, that is
// at the data mean.
func PrincipalPlane(x []float64, d int) (Plane, error) {
	n := len(x) / d
	if d < 2 || n < 1 || len(x) != n*d {
		return Plane{}, fmt.Errorf("figure: principal plane of %d values in d = %d", len(x), d)
	}
	p := Plane{D: d, Origin: Mean(x, d), Labels: [2]string{"PC1", "PC2"}}
	cov := mat.NewSymDense(d, nil)
	r := make([]float64, d)
	for i := range n {
		for a := range d {
			r[a] = x[i*d+a] - p.Origin[a]
		}
		cov.SymRankOne(cov, 1/float64(n), mat.NewVecDense(d, r))
	}
	var eig mat.EigenSym
	if !eig.Factorize(cov, true) {
		return Plane{}, fmt.Errorf("figure: the covariance of the points has no eigendecomposition (coordinates too large?)")
	}
	var vecs mat.Dense
	eig.VectorsTo(&vecs) // columns by increasing eigenvalue
	for a := range p.Axes {
		axis := mat.Col(nil, d-1-a, &vecs)
		big := 0
		for k := range axis {
			if math.Abs(axis[k]) > math.Abs(axis[big]) {
				big = k
			}
		}
		if axis[big] < 0 {
			for k := range axis {
				axis[k] = -axis[k]
			}
		}
		p.Axes[a] = axis
	}
	return p, nil
}

// Project returns the plane coordinates (n×2) of the n points x (n×d).
func (p Plane) Project(x []float64) []float64 {
	n := len(x) / p.D
	uv := make([]float64, 2*n)
	for i := range n {
		for a, axis := range p.Axes {
			var s float64
			for k, w := range axis {
				s += (x[i*p.D+k] - p.Origin[k]) * w
			}
			uv[2*i+a] = s
		}
	}
	return uv
}

// Lift writes the d-dimensional point that (u, v) stands for into x.
func (p Plane) Lift(u, v float64, x []float64) {
	for k := range x {
		x[k] = p.Origin[k] + u*p.Axes[0][k] + v*p.Axes[1][k]
	}
}

// OnPlane is the 2-D energy (u, v) ↦ V(Lift(u, v)): V on the plane. It
// gives values only (grad must be nil).
func (p Plane) OnPlane(v models.Energy) models.Energy { return onPlane{p, v} }

type onPlane struct {
	p Plane
	v models.Energy
}

func (o onPlane) Dim() int { return 2 }

func (o onPlane) Eval(uv []float64, _ int, val, grad []float64) {
	if grad != nil {
		panic("figure: OnPlane gives values only")
	}
	n := len(uv) / 2
	x := make([]float64, n*o.p.D)
	for i := range n {
		o.p.Lift(uv[2*i], uv[2*i+1], x[i*o.p.D:(i+1)*o.p.D])
	}
	o.v.Eval(x, o.p.D, val, nil)
}

// Mean is the mean of the n points x (n×d), per coordinate.
func Mean(x []float64, d int) []float64 {
	n := len(x) / d
	mean := make([]float64, d)
	for i := range n {
		for a := range d {
			mean[a] += x[i*d+a] / float64(n)
		}
	}
	return mean
}
