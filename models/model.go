package models

// Model is a trained (or true) energy as prediction, evaluation and plotting
// use it: J(μ) = ∫V dμ + ½∫∫U(x − x′) dμ dμ + β∫ρ log ρ.
type Model interface {
	// Dim is the dimension of the particles.
	Dim() int
	// PotentialAt is V(·, t), t in mean snapshot intervals since the first
	// training snapshot; models without time ignore t.
	PotentialAt(t float64) Energy
	// Interaction is U, or nil for models without one.
	Interaction() Energy
	// Beta is the learned β (signed for the networks; prediction uses |β|),
	// 0 for models without diffusion.
	Beta() float64
}

// Truth is a generating energy in model units: the generator's snapshots are
// dt apart and labelled 1 apart, so the energy a model learns is dt times the
// true one (docs/design.md §1.3): V and W scaled by dt, β by dt.
type Truth struct {
	D            int
	V, W         Energy // W may be nil
	TrueBeta, DT float64
}

func (t *Truth) Dim() int                   { return t.D }
func (t *Truth) PotentialAt(float64) Energy { return scaled{t.V, t.DT} }
func (t *Truth) Beta() float64              { return t.TrueBeta * t.DT }
func (t *Truth) Interaction() Energy {
	if t.W == nil {
		return nil
	}
	return scaled{t.W, t.DT}
}

// scaled is c·E.
type scaled struct {
	e Energy
	c float64
}

func (s scaled) Dim() int { return s.e.Dim() }

func (s scaled) Eval(x []float64, d int, val, grad []float64) {
	s.e.Eval(x, d, val, grad)
	for i := range val {
		val[i] *= s.c
	}
	for i := range grad {
		grad[i] *= s.c
	}
}
