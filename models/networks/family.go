package networks

import (
	"fmt"
	"math"

	"github.com/jkonet-gpu/jkonet-gpu/models"
)

// Every variant is a model family of its own; the engine's backends train
// them by gradient, so none has a closed-form Fit.
func init() {
	for _, k := range netKinds {
		models.RegisterFamily(k.family())
	}
}

// maxCountableDim is the largest dimension whose parameter count fits in an
// int; larger ones can only come from a malformed model file.
const maxCountableDim = math.MaxInt / (4 * HiddenWidth)

func (k netKind) family() models.Family {
	// Predict where the model was fitted: the loss takes ∇V at the target
	// of each step (the JKO optimality condition), so the networks step
	// implicitly; the explicit step would evaluate ∇V at the source, where
	// the first snapshots of a flow put particles the targets never reach
	// (docs/design.md §6.2; on styblinski_tang that costs 0.086 W1 against
	// 0.005). time-potential is fitted at the source and steps explicitly.
	scheme := models.Implicit
	if k.atSource {
		scheme = models.Explicit
	}
	return models.Family{
		Name:       k.name,
		Scheme:     scheme,
		LearnsBeta: k.internal,
		New:        k.fromParams,
		Layout: func(d int) ([]models.ParamTensor, error) {
			if err := k.checkDim(d); err != nil {
				return nil, err
			}
			return k.layout(d), nil
		},
		FileMeta: map[string]string{"layers": fmt.Sprintf("MLP in→%d→%d→1, softplus", HiddenWidth, HiddenWidth)},
	}
}

func (k netKind) checkDim(d int) error {
	if d < 1 {
		return fmt.Errorf("%s model: dimension %d, want at least 1", k.name, d)
	}
	if d > maxCountableDim {
		return fmt.Errorf("%s model: dimension %d, want at most %d", k.name, d, maxCountableDim)
	}
	return nil
}

// fromParams is the variant in dimension d with a copy of params.
func (k netKind) fromParams(d int, params []float64) (models.Model, error) {
	if err := k.checkDim(d); err != nil {
		return nil, err
	}
	if want := k.paramCount(d); len(params) != want {
		return nil, fmt.Errorf("%s model in d = %d has %d parameters, got %d", k.name, d, want, len(params))
	}
	return &Net{Kind: k.name, D: d, Params: append([]float64(nil), params...), kind: k}, nil
}
