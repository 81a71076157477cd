//go:build amd64 && !purego

package networks

// gemmKernel4x8 and gemmKernel1x8 (gemm_amd64.s) compute a 4×8 or 1×8 tile
// of C (+)= op(A) B with AVX2 fused multiply-adds: op(A)[i][l] is
// a[i·aRow + l·aStep], B[l][j] is b[l·bStep + j], C[i][j] is c[i·ldc + j];
// accumulate is 0 (overwrite) or 1 (add to C); k ≥ 1. They read and write
// through the pointers unchecked: gemmFMA checks the extents.
//
//go:noescape
func gemmKernel4x8(k int, a *float64, aRow, aStep int, b *float64, bStep int, c *float64, ldc int, accumulate int)

//go:noescape
func gemmKernel1x8(k int, a *float64, aStep int, b *float64, bStep int, c *float64, accumulate int)

func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)
func xgetbv0() (eax uint32)

// haveAVX2FMA reports whether the CPU has AVX2 and FMA and the operating
// system saves the YMM registers.
var haveAVX2FMA = func() bool {
	const (
		fmaBit, osxsaveBit, avxBit = 1 << 12, 1 << 27, 1 << 28 // CPUID 1, ECX
		avx2Bit                    = 1 << 5                    // CPUID 7, EBX
		xmmYMMState                = 0b110                     // XCR0
	)
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	if ecx1&(fmaBit|osxsaveBit|avxBit) != fmaBit|osxsaveBit|avxBit || xgetbv0()&xmmYMMState != xmmYMMState {
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	return ebx7&avx2Bit != 0
}()

// gemmFMA is gemm's fast path on CPUs with AVX2 and FMA: for op(B) = B, n a
// multiple of 8, k ≥ 1 and beta 0 or 1, it computes C and reports true;
// otherwise it reports false and leaves C alone.
func gemmFMA(transA, transB bool, m, n, k int, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) bool {
	if !haveAVX2FMA || transB || n%8 != 0 || k < 1 || (beta != 0 && beta != 1) {
		return false
	}
	aRow, aStep, aCols := lda, 1, k // op(A)[i][l] = a[i·aRow + l·aStep]; A's stored rows hold aCols
	if transA {
		aRow, aStep, aCols = 1, lda, m
	}
	if lda < aCols || ldb < n || ldc < n ||
		(m-1)*aRow+(k-1)*aStep >= len(a) || (k-1)*ldb+n > len(b) || (m-1)*ldc+n > len(c) {
		panic("models: gemm operands too short for their shapes")
	}
	accumulate := int(beta)
	i := 0
	for ; i+4 <= m; i += 4 {
		for j := 0; j < n; j += 8 {
			gemmKernel4x8(k, &a[i*aRow], aRow, aStep, &b[j], ldb, &c[i*ldc+j], ldc, accumulate)
		}
	}
	for ; i < m; i++ {
		for j := 0; j < n; j += 8 {
			gemmKernel1x8(k, &a[i*aRow], aStep, &b[j], ldb, &c[i*ldc+j], accumulate)
		}
	}
	return true
}
