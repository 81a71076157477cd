//go:build amd64 && !purego

#include "textflag.h"

// func gemmKernel4x8(k int, a *float64, aRow, aStep int, b *float64, bStep int, c *float64, ldc int, accumulate int)
//
// C[0:4][0:8] (+)= Σ_l A[0:4][l] B[l][0:8], where A[i][l] is at
// a + 8·(i·aRow + l·aStep), B[l][j] at b + 8·(l·bStep + j) and C[i][j] at
// c + 8·(i·ldc + j). k ≥ 1. Accumulators Y4–Y11 hold the 4×8 tile.
TEXT ·gemmKernel4x8(SB), NOSPLIT, $0-72
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), R10
	MOVQ aRow+16(FP), R8
	SHLQ $3, R8
	MOVQ aStep+24(FP), BX
	SHLQ $3, BX
	MOVQ b+32(FP), DI
	MOVQ bStep+40(FP), SI
	SHLQ $3, SI
	MOVQ c+48(FP), DX
	MOVQ ldc+56(FP), R9
	SHLQ $3, R9
	MOVQ accumulate+64(FP), AX
	LEAQ (R10)(R8*1), R11
	LEAQ (R11)(R8*1), R12
	LEAQ (R12)(R8*1), R13
	TESTQ AX, AX
	JZ   zero4
	LEAQ (DX)(R9*1), AX
	VMOVUPD (DX), Y4
	VMOVUPD 32(DX), Y5
	VMOVUPD (AX), Y6
	VMOVUPD 32(AX), Y7
	ADDQ R9, AX
	VMOVUPD (AX), Y8
	VMOVUPD 32(AX), Y9
	ADDQ R9, AX
	VMOVUPD (AX), Y10
	VMOVUPD 32(AX), Y11
	JMP  loop4

zero4:
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7
	VXORPD Y8, Y8, Y8
	VXORPD Y9, Y9, Y9
	VXORPD Y10, Y10, Y10
	VXORPD Y11, Y11, Y11

loop4:
	VMOVUPD      (DI), Y0
	VMOVUPD      32(DI), Y1
	VBROADCASTSD (R10), Y2
	VFMADD231PD  Y0, Y2, Y4
	VFMADD231PD  Y1, Y2, Y5
	VBROADCASTSD (R11), Y3
	VFMADD231PD  Y0, Y3, Y6
	VFMADD231PD  Y1, Y3, Y7
	VBROADCASTSD (R12), Y2
	VFMADD231PD  Y0, Y2, Y8
	VFMADD231PD  Y1, Y2, Y9
	VBROADCASTSD (R13), Y3
	VFMADD231PD  Y0, Y3, Y10
	VFMADD231PD  Y1, Y3, Y11
	ADDQ         BX, R10
	ADDQ         BX, R11
	ADDQ         BX, R12
	ADDQ         BX, R13
	ADDQ         SI, DI
	DECQ         CX
	JNZ          loop4

	VMOVUPD Y4, (DX)
	VMOVUPD Y5, 32(DX)
	ADDQ    R9, DX
	VMOVUPD Y6, (DX)
	VMOVUPD Y7, 32(DX)
	ADDQ    R9, DX
	VMOVUPD Y8, (DX)
	VMOVUPD Y9, 32(DX)
	ADDQ    R9, DX
	VMOVUPD Y10, (DX)
	VMOVUPD Y11, 32(DX)
	VZEROUPPER
	RET

// func gemmKernel1x8(k int, a *float64, aStep int, b *float64, bStep int, c *float64, accumulate int)
//
// gemmKernel4x8 for one row of A and C.
TEXT ·gemmKernel1x8(SB), NOSPLIT, $0-56
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), R10
	MOVQ aStep+16(FP), BX
	SHLQ $3, BX
	MOVQ b+24(FP), DI
	MOVQ bStep+32(FP), SI
	SHLQ $3, SI
	MOVQ c+40(FP), DX
	MOVQ accumulate+48(FP), AX
	TESTQ AX, AX
	JZ   zero1
	VMOVUPD (DX), Y4
	VMOVUPD 32(DX), Y5
	JMP  loop1

zero1:
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5

loop1:
	VBROADCASTSD (R10), Y2
	VFMADD231PD  (DI), Y2, Y4
	VFMADD231PD  32(DI), Y2, Y5
	ADDQ         BX, R10
	ADDQ         SI, DI
	DECQ         CX
	JNZ          loop1

	VMOVUPD Y4, (DX)
	VMOVUPD Y5, 32(DX)
	VZEROUPPER
	RET

// func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL leaf+0(FP), AX
	MOVL subleaf+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func xgetbv0() (eax uint32)
TEXT ·xgetbv0(SB), NOSPLIT, $0-4
	MOVL $0, CX
	XGETBV
	MOVL AX, eax+0(FP)
	RET
