package bench

import (
	_ "embed"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/jkonet-gpu/jkonet-gpu/ot/density"
)

//go:embed peers/gmm_sklearn.py
var gmmSklearnScript string

// MixtureCase is one Gaussian-mixture benchmark: N points in R^D drawn from
// Data ("uniform": uniform on [−4, 4]^D; "clustered": Clusters isotropic
// Gaussian blobs with centres uniform on [−4, 4]^D and standard deviations
// in [0.2, 0.6]), fitted with K components.
type MixtureCase struct {
	Data     string
	N, D, K  int
	Clusters int // blobs of "clustered" data; 0 means 8
	Seed     uint64
}

// Name is a short label such as "clustered n4000 d5 K10".
func (c MixtureCase) Name() string {
	return fmt.Sprintf("%s n%d d%d K%d", c.Data, c.N, c.D, c.K)
}

// MixtureResult compares density.FitMixture with scikit-learn's
// GaussianMixture on one case: median fit times over the repeats, their
// ratio (below 1: Go is faster) and the mean log-likelihood per point of each
// fit (scikit-learn's score(X); FitInfo.LogLikelihood).
type MixtureResult struct {
	Case                                  MixtureCase
	GoSeconds, SklearnSeconds, Ratio      float64
	GoLogLikelihood, SklearnLogLikelihood float64
	GoIterations, SklearnIterations       int
	GoConverged, SklearnConverged         bool
}

// DefaultMixtureCases are the cases of docs/architecture.md §7: 4000 points in R^5,
// K = 10, uniform and clustered.
func DefaultMixtureCases() []MixtureCase {
	return []MixtureCase{
		{Data: "uniform", N: 4000, D: 5, K: 10, Seed: 1},
		{Data: "clustered", N: 4000, D: 5, K: 10, Seed: 1},
	}
}

// MixtureData generates the points of a case (row-major N×D), deterministic
// for its Seed.
func MixtureData(c MixtureCase) ([]float64, error) {
	if c.N <= 0 || c.D <= 0 || c.K <= 0 {
		return nil, fmt.Errorf("bench: mixture case needs N, D, K ≥ 1, got N %d, D %d, K %d", c.N, c.D, c.K)
	}
	rng := rand.New(rand.NewPCG(c.Seed, 0x676d6d2d62656e63))
	x := make([]float64, c.N*c.D)
	switch c.Data {
	case "uniform":
		for i := range x {
			x[i] = -4 + 8*rng.Float64()
		}
	case "clustered":
		blobs := c.Clusters
		if blobs <= 0 {
			blobs = 8
		}
		centres := make([]float64, blobs*c.D)
		for i := range centres {
			centres[i] = -4 + 8*rng.Float64()
		}
		sd := make([]float64, blobs)
		for b := range sd {
			sd[b] = 0.2 + 0.4*rng.Float64()
		}
		for i := 0; i < c.N; i++ {
			b := rng.IntN(blobs)
			for j := 0; j < c.D; j++ {
				x[i*c.D+j] = centres[b*c.D+j] + sd[b]*rng.NormFloat64()
			}
		}
	default:
		return nil, fmt.Errorf("bench: unknown mixture data %q, want uniform or clustered", c.Data)
	}
	return x, nil
}

// CompareMixture fits every case with density.FitMixture and with
// scikit-learn's GaussianMixture (same data, same settings: full covariances,
// tol 1e-3, reg_covar 1e-6, max_iter 100, k-means init, n_init 1), timing the
// fit only. After one untimed Go fit, Go and scikit-learn runs alternate
// repeats times; the peer process also fits once untimed before its timed
// fit. Both are seeded with the case's Seed, but their generators differ, so
// their k-means starts (and local optima) differ. It fails with an error
// wrapping ErrNoPeer when scikit-learn is missing.
func CompareMixture(cases []MixtureCase, repeats int) ([]MixtureResult, error) {
	if repeats < 1 {
		return nil, fmt.Errorf("bench: repeats %d, want ≥ 1", repeats)
	}
	if err := PeerAvailable("sklearn"); err != nil {
		return nil, err
	}
	results := make([]MixtureResult, 0, len(cases))
	for _, c := range cases {
		r, err := compareMixtureCase(c, repeats)
		if err != nil {
			return nil, fmt.Errorf("bench: %s: %w", c.Name(), err)
		}
		results = append(results, r)
	}
	return results, nil
}

func compareMixtureCase(c MixtureCase, repeats int) (MixtureResult, error) {
	res := MixtureResult{Case: c}
	x, err := MixtureData(c)
	if err != nil {
		return res, err
	}
	opts := density.MixtureOptions{Components: c.K, Seed: c.Seed}
	args := map[string]any{
		"d": c.D, "k": c.K, "seed": c.Seed,
		"tol": density.DefaultTol, "reg_covar": density.DefaultRegCovar, "max_iter": density.DefaultMaxIter,
	}
	arrays := map[string][]float64{"x": x}
	if _, _, err := density.FitMixture(x, c.D, opts); err != nil {
		return res, err
	}
	fit := func() ([]float64, error) {
		start := time.Now()
		_, info, err := density.FitMixture(x, c.D, opts)
		if err != nil {
			return nil, err
		}
		res.GoLogLikelihood, res.GoIterations, res.GoConverged = info.LogLikelihood, info.Iterations, info.Converged
		return []float64{time.Since(start).Seconds()}, nil
	}
	runSklearn := func() ([]float64, error) {
		var peer struct {
			Seconds       float64 `json:"seconds"`
			LogLikelihood float64 `json:"log_likelihood"`
			Iterations    int     `json:"iterations"`
			Converged     bool    `json:"converged"`
		}
		if err := RunPeer(gmmSklearnScript, args, arrays, &peer); err != nil {
			return nil, err
		}
		res.SklearnLogLikelihood, res.SklearnIterations, res.SklearnConverged = peer.LogLikelihood, peer.Iterations, peer.Converged
		return []float64{peer.Seconds}, nil
	}
	if res.GoSeconds, res.SklearnSeconds, err = alternate(repeats, fit, runSklearn); err != nil {
		return res, err
	}
	res.Ratio = res.GoSeconds / res.SklearnSeconds
	return res, nil
}

// String formats a result as one table row.
func (r MixtureResult) String() string {
	return fmt.Sprintf("%-26s go %8.4fs  sklearn %8.4fs  ratio %5.2f  loglik go %.5f sklearn %.5f (%+.2f%%)  iter %d/%d",
		r.Case.Name(), r.GoSeconds, r.SklearnSeconds, r.Ratio, r.GoLogLikelihood, r.SklearnLogLikelihood,
		100*(r.GoLogLikelihood-r.SklearnLogLikelihood)/math.Abs(r.SklearnLogLikelihood), r.GoIterations, r.SklearnIterations)
}
