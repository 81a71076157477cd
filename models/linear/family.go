package linear

import "github.com/jkonet-gpu/jkonet-gpu/models"

// Both kinds register as model families solved in closed form (with the
// default ridge) and fitted at the source, so they predict explicitly.
func init() {
	for _, kind := range []string{Kind, PotentialKind} {
		models.RegisterFamily(models.Family{
			Name:       kind,
			Scheme:     models.Explicit,
			LearnsBeta: kind == Kind,
			MaxDim:     MaxDim,
			New: func(d int, theta []float64) (models.Model, error) {
				m, err := New(kind, d, theta)
				if err != nil {
					return nil, err
				}
				return m, nil
			},
			Layout: func(d int) ([]models.ParamTensor, error) {
				m, err := newModel(kind, d)
				if err != nil {
					return nil, err
				}
				return m.Layout(), nil
			},
			FileMeta: map[string]string{"features": "monomials Π v_i^e_i, e_i ∈ {0..4}, then bumps exp(−‖x−c‖²/0.5), c on linspace(−4, 4, 10)^d, row-major"},
			Fit: func(p *models.Pairs) ([]float64, error) {
				m, err := Fit(kind, p, DefaultRidge)
				if err != nil {
					return nil, err
				}
				return m.Theta(), nil
			},
		})
	}
}
