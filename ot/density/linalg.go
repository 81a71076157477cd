package density

import "math"

// Small dense routines on symmetric and lower-triangular d×d matrices in
// row-packed lower storage: entry (i, j) with j ≤ i lives at i(i+1)/2 + j, so
// a matrix takes packedLen(d) = d(d+1)/2 values.

// packedLen is the number of values of a packed lower-triangular d×d matrix.
func packedLen(d int) int { return d * (d + 1) / 2 }

// choleskyPacked factors the symmetric positive definite matrix a (packed
// lower) as a = L Lᵀ, writing L (packed lower) into l, by the
// Cholesky–Banachiewicz recurrence
//
//	L_ij = (a_ij − Σ_{m<j} L_im L_jm) / L_jj,   L_ii = √(a_ii − Σ_{m<i} L_im²).
//
// It reports false when a is not numerically positive definite (a pivot is
// ≤ 0 or not finite).
func choleskyPacked(a, l []float64, d int) bool {
	for i := 0; i < d; i++ {
		ri := i * (i + 1) / 2
		rowI := l[ri : ri+i+1]
		for j := 0; j <= i; j++ {
			rj := j * (j + 1) / 2
			rowJ := l[rj : rj+j+1]
			s := a[ri+j]
			for m := 0; m < j; m++ {
				s -= rowI[m] * rowJ[m]
			}
			if j < i {
				rowI[j] = s / rowJ[j]
				continue
			}
			if !(s > 0) || math.IsInf(s, 1) {
				return false
			}
			rowI[i] = math.Sqrt(s)
		}
	}
	return true
}

// invertLowerPacked writes M = L⁻¹ (lower triangular, packed) into m for the
// packed lower-triangular l with a nonzero diagonal, by forward substitution
// on L M = I row by row:
//
//	M_ii = 1/L_ii,   M_ij = −(Σ_{j≤q<i} L_iq M_qj) / L_ii   for j < i.
func invertLowerPacked(l, m []float64, d int) {
	for i := 0; i < d; i++ {
		ri := i * (i + 1) / 2
		rowL := l[ri : ri+i+1]
		for j := 0; j < i; j++ {
			s := 0.0
			for q := j; q < i; q++ {
				s += rowL[q] * m[q*(q+1)/2+j]
			}
			m[ri+j] = -s / rowL[i]
		}
		m[ri+i] = 1 / rowL[i]
	}
}

// logDetFromCholesky returns log det(L Lᵀ) = 2 Σ_i log L_ii.
func logDetFromCholesky(l []float64, d int) float64 {
	s := 0.0
	for i := 0; i < d; i++ {
		s += math.Log(l[i*(i+3)/2])
	}
	return 2 * s
}

// unpackSymmetric expands the packed lower triangle a into the full
// row-major symmetric d×d matrix full.
func unpackSymmetric(a, full []float64, d int) {
	for i := 0; i < d; i++ {
		for j := 0; j <= i; j++ {
			v := a[i*(i+1)/2+j]
			full[i*d+j], full[j*d+i] = v, v
		}
	}
}
