package engine

import "math"

// adam is Adam (Kingma & Ba 2015) with global-norm gradient clipping applied
// per network: each group of the flat buffer (V, U, β) is scaled by
// min(1, clip/‖g_group‖) before the update
//
//	m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²,
//	θ ← θ − lr · m̂ / (√v̂ + ε),  m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ).
//
// Frozen groups are neither clipped nor updated.
type adam struct {
	lr, beta1, beta2, eps, clip float64
	groups                      []ParamGroup
	m, v                        []float64
	t                           uint64
}

// Adam's constants (Kingma & Ba's defaults, as the reference uses).
const (
	AdamBeta1   = 0.9
	AdamBeta2   = 0.999
	AdamEpsilon = 1e-8
)

func newAdam(s Settings, groups []ParamGroup, size int) *adam {
	return &adam{lr: s.LR, beta1: AdamBeta1, beta2: AdamBeta2, eps: AdamEpsilon, clip: s.Clip, groups: groups,
		m: make([]float64, size), v: make([]float64, size)}
}

// update applies one step to params with gradient g (g is clipped in place).
func (a *adam) update(params, g []float64) {
	a.t++
	c1 := 1 - math.Pow(a.beta1, float64(a.t))
	c2 := 1 - math.Pow(a.beta2, float64(a.t))
	for _, gr := range a.groups {
		if gr.Frozen {
			continue
		}
		gg := g[gr.Lo:gr.Hi]
		if a.clip > 0 {
			var norm float64
			for _, x := range gg {
				norm += x * x
			}
			if norm = math.Sqrt(norm); norm > a.clip {
				for i := range gg {
					gg[i] *= a.clip / norm
				}
			}
		}
		for i := gr.Lo; i < gr.Hi; i++ {
			a.m[i] = a.beta1*a.m[i] + (1-a.beta1)*g[i]
			a.v[i] = a.beta2*a.v[i] + (1-a.beta2)*g[i]*g[i]
			params[i] -= a.lr * (a.m[i] / c1) / (math.Sqrt(a.v[i]/c2) + a.eps)
		}
	}
}
