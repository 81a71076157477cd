//go:build !amd64 || purego

package networks

// gemmFMA is gemm's fast path, which only amd64 has (gemm_amd64.go).
func gemmFMA(transA, transB bool, m, n, k int, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) bool {
	return false
}
