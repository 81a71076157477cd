// Package linear is the linear feature model of JKOnet*.
//
// The linear feature model of docs/design.md §5: V, U and β are
// linear in a fixed feature set φ, so the JKOnet* loss is a quadratic in the
// parameters θ and is minimised in one linear solve.
//
// Features on R^d, in this order:
//   - monomials Π_a v_a^{e_a}, e_a ∈ {0..4}, not all zero (5^d − 1), exponent
//     tuples in row-major order of {0..4}^d (the last coordinate varies fastest);
//   - Gaussian bumps exp(−‖v − c‖²/0.5) with centres c on the grid
//     linspace(−4, 4, 10)^d (10^d), also row-major.
//
// Every feature is a product of one-dimensional factors u_a(v_a) (a power of
// v_a or exp(−(v_a − c_a)²/0.5)), so φ and ∇φ are evaluated from a small table
// of per-coordinate factors and their derivatives.
package linear
