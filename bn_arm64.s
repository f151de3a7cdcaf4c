//go:build !purego

#include "textflag.h"

// The NEON kernels. The Go wrappers in bn_arm64.go walk samples, tiles and chunks and work
// out the factors a chunk's Chan merge shares across channels; every loop over values or
// channels is here.
//
// Go's assembler does not take these vector float instructions, so they are encoded by
// hand. Arguments are register numbers (0 for V0); each comment gives the disassembly.

// fadd vd.4s, vn.4s, vm.4s  (d = n + m)
#define VFADD(m, n, d) WORD $(0x4E20D400 | ((m)<<16) | ((n)<<5) | (d))
// fsub vd.4s, vn.4s, vm.4s  (d = n - m)
#define VFSUB(m, n, d) WORD $(0x4EA0D400 | ((m)<<16) | ((n)<<5) | (d))
// faddp vd.4s, vn.4s, vm.4s  (pairwise: d = [n0+n1, n2+n3, m0+m1, m2+m3])
#define VFADDP(m, n, d) WORD $(0x6E20D400 | ((m)<<16) | ((n)<<5) | (d))
// faddp sd, vn.2s  (d = n0 + n1)
#define FADDP2(n, d) WORD $(0x7E30D800 | ((n)<<5) | (d))

// The float64 forms, for the Chan merges.
// fadd vd.2d, vn.2d, vm.2d
#define VFADDD(m, n, d) WORD $(0x4E60D400 | ((m)<<16) | ((n)<<5) | (d))
// fsub vd.2d, vn.2d, vm.2d  (d = n - m)
#define VFSUBD(m, n, d) WORD $(0x4EE0D400 | ((m)<<16) | ((n)<<5) | (d))
// fmul vd.2d, vn.2d, vm.2d
#define VFMULD(m, n, d) WORD $(0x6E60DC00 | ((m)<<16) | ((n)<<5) | (d))
// fmax vd.2d, vn.2d, vm.2d
#define VFMAXD(m, n, d) WORD $(0x4E60F400 | ((m)<<16) | ((n)<<5) | (d))
// fcvtl vd.2d, vn.2s  (the low two lanes of n widened)
#define VFCVTL(n, d) WORD $(0x0E617800 | ((n)<<5) | (d))
// fcvtl2 vd.2d, vn.4s  (the high two lanes of n widened)
#define VFCVTL2(n, d) WORD $(0x4E617800 | ((n)<<5) | (d))
// fcvtn vd.2s, vn.2d  (n narrowed into the low two lanes of d; the high two cleared)
#define VFCVTN(n, d) WORD $(0x0E616800 | ((n)<<5) | (d))
// fcvtn2 vd.4s, vn.2d  (n narrowed into the high two lanes of d)
#define VFCVTN2(n, d) WORD $(0x4E616800 | ((n)<<5) | (d))

// HSUM4 leaves in Fa the sum of the 16 lanes of Va, Vb, Vc, Vd: (a+b) + (c+d) lanewise,
// then the four lanes pairwise. It clobbers Va and Vc.
#define HSUM4(a, b, c, d) \
	VFADD(b, a, a); \
	VFADD(d, c, c); \
	VFADD(c, a, a); \
	VFADDP(a, a, a); \
	FADDP2(a, a)

// ZERO clears a vector register.
#define ZERO(r) VEOR r.B16, r.B16, r.B16

// The main loops take 64 values per iteration: four blocks of 16 values of a run (rows
// kernels) or four rows of a block of 16 channels (cols kernels). Each kernel defines its
// 16-value block as a macro in two register sets, A and B, that alternate so that
// consecutive blocks do not wait on each other's registers (the cols sums still add into
// one set of accumulators, row by row); the remainder runs block A alone, then vectors of
// 4, then single values.

// Moments of runs: k in V31; set A sums into V0-V3 (Σd) and V8-V11 (Σd²), set B into
// V4-V7 and V12-V15.
#define MR16A \
	VLD1.P 64(R0), [V16.S4, V17.S4, V18.S4, V19.S4]; \
	VFSUB(31, 16, 16); \
	VFSUB(31, 17, 17); \
	VFSUB(31, 18, 18); \
	VFSUB(31, 19, 19); \
	VFADD(16, 0, 0); \
	VFADD(17, 1, 1); \
	VFADD(18, 2, 2); \
	VFADD(19, 3, 3); \
	VFMLA  V16.S4, V16.S4, V8.S4; \
	VFMLA  V17.S4, V17.S4, V9.S4; \
	VFMLA  V18.S4, V18.S4, V10.S4; \
	VFMLA  V19.S4, V19.S4, V11.S4

#define MR16B \
	VLD1.P 64(R0), [V20.S4, V21.S4, V22.S4, V23.S4]; \
	VFSUB(31, 20, 20); \
	VFSUB(31, 21, 21); \
	VFSUB(31, 22, 22); \
	VFSUB(31, 23, 23); \
	VFADD(20, 4, 4); \
	VFADD(21, 5, 5); \
	VFADD(22, 6, 6); \
	VFADD(23, 7, 7); \
	VFMLA  V20.S4, V20.S4, V12.S4; \
	VFMLA  V21.S4, V21.S4, V13.S4; \
	VFMLA  V22.S4, V22.S4, V14.S4; \
	VFMLA  V23.S4, V23.S4, V15.S4

// func momentsRunsNEON(s1, s2 []float64, k, x []float32, width int)
//
// For each of the len(k) runs of width values in x, s1[i] = Σ(v-k[i]) and
// s2[i] = Σ(v-k[i])², summed in float32 over chunks of 256 values (eight accumulators per
// sum), each chunk's sums then added in float64.
TEXT ·momentsRunsNEON(SB), NOSPLIT, $0-104
	MOVD s1_base+0(FP), R2
	MOVD s2_base+24(FP), R3
	MOVD k_base+48(FP), R1
	MOVD k_len+56(FP), R4
	MOVD x_base+72(FP), R0
	MOVD width+96(FP), R5
	CBZ  R4, mr_done

mr_run:
	VLD1R.P 4(R1), [V31.S4] // k in every lane; F31 is k
	FMOVD   ZR, F30         // Σ(v-k) in float64
	FMOVD   ZR, F29         // Σ(v-k)² in float64
	MOVD    R5, R6          // values left in the run
	CBZ     R6, mr_store

mr_chunk:
	MOVD $256, R7
	CMP  R7, R6
	CSEL LT, R6, R7, R7 // R7 = min(left, 256)
	SUB  R7, R6, R6
	ZERO(V0)
	ZERO(V1)
	ZERO(V2)
	ZERO(V3)
	ZERO(V8)
	ZERO(V9)
	ZERO(V10)
	ZERO(V11)
	ZERO(V24)
	ZERO(V25)
	LSR  $6, R7, R8
	CBZ  R8, mr_16 // set B only serves the 64-value loop
	ZERO(V4)
	ZERO(V5)
	ZERO(V6)
	ZERO(V7)
	ZERO(V12)
	ZERO(V13)
	ZERO(V14)
	ZERO(V15)

mr_loop64:
	MR16A
	MR16B
	MR16A
	MR16B
	SUBS $1, R8, R8
	BNE  mr_loop64

	VFADD(4, 0, 0)
	VFADD(5, 1, 1)
	VFADD(6, 2, 2)
	VFADD(7, 3, 3)
	VFADD(12, 8, 8)
	VFADD(13, 9, 9)
	VFADD(14, 10, 10)
	VFADD(15, 11, 11)

mr_16:
	AND $63, R7, R8
	LSR $4, R8, R8
	CBZ R8, mr_4

mr_loop16:
	MR16A
	SUBS $1, R8, R8
	BNE  mr_loop16

mr_4:
	AND $15, R7, R8
	LSR $2, R8, R9
	CBZ R9, mr_1

mr_loop4:
	VLD1.P 16(R0), [V16.S4]
	VFSUB(31, 16, 16)
	VFADD(16, 0, 0)
	VFMLA  V16.S4, V16.S4, V8.S4
	SUBS   $1, R9, R9
	BNE    mr_loop4

mr_1:
	AND $3, R8, R9
	CBZ R9, mr_sum

mr_loop1:
	FMOVS.P 4(R0), F16
	FSUBS   F31, F16, F16
	FADDS   F16, F24, F24
	FMADDS  F16, F25, F16, F25 // F25 += d*d
	SUBS    $1, R9, R9
	BNE     mr_loop1

mr_sum:
	HSUM4(0, 1, 2, 3)
	HSUM4(8, 9, 10, 11)
	FADDS  F24, F0, F0
	FADDS  F25, F8, F8
	FCVTSD F0, F0
	FCVTSD F8, F8
	FADDD  F0, F30, F30
	FADDD  F8, F29, F29
	CBNZ   R6, mr_chunk

mr_store:
	FMOVD.P F30, 8(R2)
	FMOVD.P F29, 8(R3)
	SUBS    $1, R4, R4
	BNE     mr_run

mr_done:
	RET

// Moments of a column block: one row of 16 channels at R7, then R7 += stride (R6);
// k in V28-V31, Σd in V0-V3, Σd² in V8-V11. Rows add in order, in both sets.
#define MC16A \
	VLD1.P (R7)(R6), [V16.S4, V17.S4, V18.S4, V19.S4]; \
	VFSUB(28, 16, 16); \
	VFSUB(29, 17, 17); \
	VFSUB(30, 18, 18); \
	VFSUB(31, 19, 19); \
	VFADD(16, 0, 0); \
	VFADD(17, 1, 1); \
	VFADD(18, 2, 2); \
	VFADD(19, 3, 3); \
	VFMLA  V16.S4, V16.S4, V8.S4; \
	VFMLA  V17.S4, V17.S4, V9.S4; \
	VFMLA  V18.S4, V18.S4, V10.S4; \
	VFMLA  V19.S4, V19.S4, V11.S4

#define MC16B \
	VLD1.P (R7)(R6), [V20.S4, V21.S4, V22.S4, V23.S4]; \
	VFSUB(28, 20, 20); \
	VFSUB(29, 21, 21); \
	VFSUB(30, 22, 22); \
	VFSUB(31, 23, 23); \
	VFADD(20, 0, 0); \
	VFADD(21, 1, 1); \
	VFADD(22, 2, 2); \
	VFADD(23, 3, 3); \
	VFMLA  V20.S4, V20.S4, V8.S4; \
	VFMLA  V21.S4, V21.S4, V9.S4; \
	VFMLA  V22.S4, V22.S4, V10.S4; \
	VFMLA  V23.S4, V23.S4, V11.S4

// func momentsColsChunkNEON(s1, s2 []float64, k, x []float32, rows, stride int)
//
// For each of the len(k) channels i, s1[i] = Σ(v-k[i]) and s2[i] = Σ(v-k[i])² over the
// values x[r*stride+i] of rows r in [0, rows), summed in float32 row by row, so that a
// channel's sums are the same bits in a block of 16, of 4 or alone, then widened.
TEXT ·momentsColsChunkNEON(SB), NOSPLIT, $0-112
	MOVD s1_base+0(FP), R2
	MOVD s2_base+24(FP), R3
	MOVD k_base+48(FP), R1
	MOVD k_len+56(FP), R4
	MOVD x_base+72(FP), R0
	MOVD rows+96(FP), R5
	MOVD stride+104(FP), R6
	LSL  $2, R6, R6 // stride in bytes
	LSR  $2, R5, R9 // groups of four rows
	AND  $3, R5, R10 // rows after them
	CBZ  R5, mc_done
	CMP  $16, R4
	BLT  mc_cols4

mc_cols16:
	VLD1.P 64(R1), [V28.S4, V29.S4, V30.S4, V31.S4]
	ZERO(V0)
	ZERO(V1)
	ZERO(V2)
	ZERO(V3)
	ZERO(V8)
	ZERO(V9)
	ZERO(V10)
	ZERO(V11)
	MOVD R0, R7
	CBZ  R9, mc_rest16
	MOVD R9, R8

mc_rows64:
	MC16A
	MC16B
	MC16A
	MC16B
	SUBS $1, R8, R8
	BNE  mc_rows64

mc_rest16:
	CBZ  R10, mc_store16
	MOVD R10, R8

mc_rows16:
	MC16A
	SUBS $1, R8, R8
	BNE  mc_rows16

mc_store16:
	VFCVTL(0, 16)
	VFCVTL2(0, 17)
	VFCVTL(1, 18)
	VFCVTL2(1, 19)
	VFCVTL(2, 20)
	VFCVTL2(2, 21)
	VFCVTL(3, 22)
	VFCVTL2(3, 23)
	VFCVTL(8, 12)
	VFCVTL2(8, 13)
	VFCVTL(9, 14)
	VFCVTL2(9, 15)
	VFCVTL(10, 24)
	VFCVTL2(10, 25)
	VFCVTL(11, 26)
	VFCVTL2(11, 27)
	VST1.P [V16.D2, V17.D2, V18.D2, V19.D2], 64(R2)
	VST1.P [V20.D2, V21.D2, V22.D2, V23.D2], 64(R2)
	VST1.P [V12.D2, V13.D2, V14.D2, V15.D2], 64(R3)
	VST1.P [V24.D2, V25.D2, V26.D2, V27.D2], 64(R3)
	ADD    $64, R0, R0
	SUB    $16, R4, R4
	CMP    $16, R4
	BGE    mc_cols16

mc_cols4:
	CMP    $4, R4
	BLT    mc_cols1
	VLD1.P 16(R1), [V28.S4]
	ZERO(V0)
	ZERO(V8)
	MOVD   R0, R7
	MOVD   R5, R8

mc_rows4:
	VLD1.P (R7)(R6), [V16.S4]
	VFSUB(28, 16, 16)
	VFADD(16, 0, 0)
	VFMLA  V16.S4, V16.S4, V8.S4
	SUBS   $1, R8, R8
	BNE    mc_rows4

	VFCVTL(0, 16)
	VFCVTL2(0, 17)
	VFCVTL(8, 18)
	VFCVTL2(8, 19)
	VST1.P [V16.D2, V17.D2], 32(R2)
	VST1.P [V18.D2, V19.D2], 32(R3)
	ADD    $16, R0, R0
	SUB    $4, R4, R4
	B      mc_cols4

mc_cols1:
	CBZ     R4, mc_done
	FMOVS.P 4(R1), F28
	ZERO(V0)
	ZERO(V8)
	MOVD    R0, R7
	MOVD    R5, R8

mc_rows1:
	FMOVS  (R7), F16
	ADD    R6, R7, R7
	FSUBS  F28, F16, F16
	FADDS  F16, F0, F0
	FMADDS F16, F8, F16, F8 // F8 += d*d
	SUBS   $1, R8, R8
	BNE    mc_rows1

	FCVTSD  F0, F0
	FCVTSD  F8, F8
	FMOVD.P F0, 8(R2)
	FMOVD.P F8, 8(R3)
	ADD     $4, R0, R0
	SUB     $1, R4, R4
	B       mc_cols1

mc_done:
	RET

// Normalizing runs: center in V28, scale in V29, ld4r from (R9) gives four copies of the
// shift. Set A computes in V16-V19 and V0-V3, set B in V20-V23 and V4-V7.
#define NR16A \
	VLD1.P 64(R1), [V16.S4, V17.S4, V18.S4, V19.S4]; \
	VLD4R  (R9), [V0.S4, V1.S4, V2.S4, V3.S4]; \
	VFSUB(28, 16, 16); \
	VFSUB(28, 17, 17); \
	VFSUB(28, 18, 18); \
	VFSUB(28, 19, 19); \
	VFMLA  V29.S4, V16.S4, V0.S4; \
	VFMLA  V29.S4, V17.S4, V1.S4; \
	VFMLA  V29.S4, V18.S4, V2.S4; \
	VFMLA  V29.S4, V19.S4, V3.S4; \
	VST1.P [V0.S4, V1.S4, V2.S4, V3.S4], 64(R0)

#define NR16B \
	VLD1.P 64(R1), [V20.S4, V21.S4, V22.S4, V23.S4]; \
	VLD4R  (R9), [V4.S4, V5.S4, V6.S4, V7.S4]; \
	VFSUB(28, 20, 20); \
	VFSUB(28, 21, 21); \
	VFSUB(28, 22, 22); \
	VFSUB(28, 23, 23); \
	VFMLA  V29.S4, V20.S4, V4.S4; \
	VFMLA  V29.S4, V21.S4, V5.S4; \
	VFMLA  V29.S4, V22.S4, V6.S4; \
	VFMLA  V29.S4, V23.S4, V7.S4; \
	VST1.P [V4.S4, V5.S4, V6.S4, V7.S4], 64(R0)

// func normalizeRunsNEON(y, x, center, scale, shift []float32, width int)
//
// For each of the len(center) runs of width values, y = (x - center[i])*scale[i] + shift[i]
// with one rounding of the product-sum (fmla). The frame holds shift[i] four times, so one
// ld4r gives four accumulators their starting value.
TEXT ·normalizeRunsNEON(SB), NOSPLIT, $16-128
	MOVD y_base+0(FP), R0
	MOVD x_base+24(FP), R1
	MOVD center_base+48(FP), R2
	MOVD center_len+56(FP), R4
	MOVD scale_base+72(FP), R3
	MOVD shift_base+96(FP), R5
	MOVD width+120(FP), R6
	MOVD $shift4-16(SP), R9
	CBZ  R4, nr_done

nr_run:
	VLD1R.P 4(R2), [V28.S4] // center
	VLD1R.P 4(R3), [V29.S4] // scale
	VLD1R.P 4(R5), [V30.S4] // shift
	VST1    [V30.S4], (R9)
	LSR     $6, R6, R7
	CBZ     R7, nr_16

nr_loop64:
	NR16A
	NR16B
	NR16A
	NR16B
	SUBS $1, R7, R7
	BNE  nr_loop64

nr_16:
	AND $63, R6, R7
	LSR $4, R7, R7
	CBZ R7, nr_4

nr_loop16:
	NR16A
	SUBS $1, R7, R7
	BNE  nr_loop16

nr_4:
	AND $15, R6, R8
	LSR $2, R8, R7
	CBZ R7, nr_1

nr_loop4:
	VLD1.P 16(R1), [V16.S4]
	VMOV   V30.B16, V0.B16
	VFSUB(28, 16, 16)
	VFMLA  V29.S4, V16.S4, V0.S4
	VST1.P [V0.S4], 16(R0)
	SUBS   $1, R7, R7
	BNE    nr_loop4

nr_1:
	AND $3, R8, R7
	CBZ R7, nr_next

nr_loop1:
	FMOVS.P 4(R1), F16
	FSUBS   F28, F16, F16
	FMADDS  F29, F30, F16, F0 // F0 = shift + d*scale
	FMOVS.P F0, 4(R0)
	SUBS    $1, R7, R7
	BNE     nr_loop1

nr_next:
	SUBS $1, R4, R4
	BNE  nr_run

nr_done:
	RET

// Normalizing a column block: one row of 16 channels from x at R10 to y at R8, both then
// advanced by the stride (R7); center in V24-V27, scale in V28-V31, and the block's
// shifts at (R5) start the accumulators.
#define NC16A \
	VLD1.P (R10)(R7), [V16.S4, V17.S4, V18.S4, V19.S4]; \
	VLD1   (R5), [V0.S4, V1.S4, V2.S4, V3.S4]; \
	VFSUB(24, 16, 16); \
	VFSUB(25, 17, 17); \
	VFSUB(26, 18, 18); \
	VFSUB(27, 19, 19); \
	VFMLA  V28.S4, V16.S4, V0.S4; \
	VFMLA  V29.S4, V17.S4, V1.S4; \
	VFMLA  V30.S4, V18.S4, V2.S4; \
	VFMLA  V31.S4, V19.S4, V3.S4; \
	VST1.P [V0.S4, V1.S4, V2.S4, V3.S4], (R8)(R7)

#define NC16B \
	VLD1.P (R10)(R7), [V20.S4, V21.S4, V22.S4, V23.S4]; \
	VLD1   (R5), [V4.S4, V5.S4, V6.S4, V7.S4]; \
	VFSUB(24, 20, 20); \
	VFSUB(25, 21, 21); \
	VFSUB(26, 22, 22); \
	VFSUB(27, 23, 23); \
	VFMLA  V28.S4, V20.S4, V4.S4; \
	VFMLA  V29.S4, V21.S4, V5.S4; \
	VFMLA  V30.S4, V22.S4, V6.S4; \
	VFMLA  V31.S4, V23.S4, V7.S4; \
	VST1.P [V4.S4, V5.S4, V6.S4, V7.S4], (R8)(R7)

// func normalizeColsTileNEON(y, x, center, scale, shift []float32, rows, stride int)
//
// y[r*stride+i] = (x[r*stride+i] - center[i])*scale[i] + shift[i] for the len(center)
// channels of rows [0, rows), a block of channels at a time, walking the rows inside it.
TEXT ·normalizeColsTileNEON(SB), NOSPLIT, $0-136
	MOVD y_base+0(FP), R0
	MOVD x_base+24(FP), R1
	MOVD center_base+48(FP), R2
	MOVD center_len+56(FP), R4
	MOVD scale_base+72(FP), R3
	MOVD shift_base+96(FP), R5
	MOVD rows+120(FP), R6
	MOVD stride+128(FP), R7
	LSL  $2, R7, R7 // stride in bytes
	LSR  $2, R6, R12 // groups of four rows
	AND  $3, R6, R13 // rows after them
	CBZ  R6, nc_done
	CMP  $16, R4
	BLT  nc_cols4

nc_cols16:
	VLD1.P 64(R2), [V24.S4, V25.S4, V26.S4, V27.S4]
	VLD1.P 64(R3), [V28.S4, V29.S4, V30.S4, V31.S4]
	MOVD   R0, R8
	MOVD   R1, R10
	CBZ    R12, nc_rest16
	MOVD   R12, R11

nc_rows64:
	NC16A
	NC16B
	NC16A
	NC16B
	SUBS $1, R11, R11
	BNE  nc_rows64

nc_rest16:
	CBZ  R13, nc_next16
	MOVD R13, R11

nc_rows16:
	NC16A
	SUBS $1, R11, R11
	BNE  nc_rows16

nc_next16:
	ADD $64, R0, R0
	ADD $64, R1, R1
	ADD $64, R5, R5
	SUB $16, R4, R4
	CMP $16, R4
	BGE nc_cols16

nc_cols4:
	CMP    $4, R4
	BLT    nc_cols1
	VLD1.P 16(R2), [V24.S4]
	VLD1.P 16(R3), [V28.S4]
	MOVD   R0, R8
	MOVD   R1, R10
	MOVD   R6, R11

nc_rows4:
	VLD1.P (R10)(R7), [V16.S4]
	VLD1   (R5), [V0.S4]
	VFSUB(24, 16, 16)
	VFMLA  V28.S4, V16.S4, V0.S4
	VST1.P [V0.S4], (R8)(R7)
	SUBS   $1, R11, R11
	BNE    nc_rows4

	ADD $16, R0, R0
	ADD $16, R1, R1
	ADD $16, R5, R5
	SUB $4, R4, R4
	B   nc_cols4

nc_cols1:
	CBZ     R4, nc_done
	FMOVS.P 4(R2), F24
	FMOVS.P 4(R3), F28
	FMOVS.P 4(R5), F30
	MOVD    R0, R8
	MOVD    R1, R10
	MOVD    R6, R11

nc_rows1:
	FMOVS  (R10), F16
	ADD    R7, R10, R10
	FSUBS  F24, F16, F16
	FMADDS F28, F30, F16, F0 // F0 = shift + d*scale
	FMOVS  F0, (R8)
	ADD    R7, R8, R8
	SUBS   $1, R11, R11
	BNE    nc_rows1

	ADD $4, R0, R0
	ADD $4, R1, R1
	SUB $1, R4, R4
	B   nc_cols1

nc_done:
	RET

// Reducing runs: center in V31, x into V16-V19 and dy into V20-V23; set A sums into
// V0-V3 (Σdy) and V4-V7 (Σdy·d), set B into V8-V11 and V12-V15.
#define RR16A \
	VLD1.P 64(R1), [V16.S4, V17.S4, V18.S4, V19.S4]; \
	VLD1.P 64(R0), [V20.S4, V21.S4, V22.S4, V23.S4]; \
	VFSUB(31, 16, 16); \
	VFSUB(31, 17, 17); \
	VFSUB(31, 18, 18); \
	VFSUB(31, 19, 19); \
	VFADD(20, 0, 0); \
	VFADD(21, 1, 1); \
	VFADD(22, 2, 2); \
	VFADD(23, 3, 3); \
	VFMLA  V20.S4, V16.S4, V4.S4; \
	VFMLA  V21.S4, V17.S4, V5.S4; \
	VFMLA  V22.S4, V18.S4, V6.S4; \
	VFMLA  V23.S4, V19.S4, V7.S4

#define RR16B \
	VLD1.P 64(R1), [V16.S4, V17.S4, V18.S4, V19.S4]; \
	VLD1.P 64(R0), [V20.S4, V21.S4, V22.S4, V23.S4]; \
	VFSUB(31, 16, 16); \
	VFSUB(31, 17, 17); \
	VFSUB(31, 18, 18); \
	VFSUB(31, 19, 19); \
	VFADD(20, 8, 8); \
	VFADD(21, 9, 9); \
	VFADD(22, 10, 10); \
	VFADD(23, 11, 11); \
	VFMLA  V20.S4, V16.S4, V12.S4; \
	VFMLA  V21.S4, V17.S4, V13.S4; \
	VFMLA  V22.S4, V18.S4, V14.S4; \
	VFMLA  V23.S4, V19.S4, V15.S4

// func reduceRunsNEON(sumDy, sumDyXc []float64, dy, x, center []float32, width int)
//
// For each of the len(center) runs of width values, adds Σdy to sumDy[i] and
// Σdy·(x-center[i]) to sumDyXc[i], summed in float32 over chunks of 256 values (eight
// accumulators per sum) and then in float64.
TEXT ·reduceRunsNEON(SB), NOSPLIT, $0-128
	MOVD sumDy_base+0(FP), R2
	MOVD sumDyXc_base+24(FP), R3
	MOVD dy_base+48(FP), R0
	MOVD x_base+72(FP), R1
	MOVD center_base+96(FP), R4
	MOVD center_len+104(FP), R5
	MOVD width+120(FP), R6
	CBZ  R5, rr_done

rr_run:
	VLD1R.P 4(R4), [V31.S4] // center; F31 is center
	FMOVD   ZR, F30         // Σdy in float64
	FMOVD   ZR, F29         // Σdy·(x-c) in float64
	MOVD    R6, R7
	CBZ     R7, rr_store

rr_chunk:
	MOVD $256, R8
	CMP  R8, R7
	CSEL LT, R7, R8, R8 // R8 = min(left, 256)
	SUB  R8, R7, R7
	ZERO(V0)
	ZERO(V1)
	ZERO(V2)
	ZERO(V3)
	ZERO(V4)
	ZERO(V5)
	ZERO(V6)
	ZERO(V7)
	ZERO(V24)
	ZERO(V25)
	LSR  $6, R8, R9
	CBZ  R9, rr_16 // set B only serves the 64-value loop
	ZERO(V8)
	ZERO(V9)
	ZERO(V10)
	ZERO(V11)
	ZERO(V12)
	ZERO(V13)
	ZERO(V14)
	ZERO(V15)

rr_loop64:
	RR16A
	RR16B
	RR16A
	RR16B
	SUBS $1, R9, R9
	BNE  rr_loop64

	VFADD(8, 0, 0)
	VFADD(9, 1, 1)
	VFADD(10, 2, 2)
	VFADD(11, 3, 3)
	VFADD(12, 4, 4)
	VFADD(13, 5, 5)
	VFADD(14, 6, 6)
	VFADD(15, 7, 7)

rr_16:
	AND $63, R8, R9
	LSR $4, R9, R9
	CBZ R9, rr_4

rr_loop16:
	RR16A
	SUBS $1, R9, R9
	BNE  rr_loop16

rr_4:
	AND $15, R8, R10
	LSR $2, R10, R9
	CBZ R9, rr_1

rr_loop4:
	VLD1.P 16(R1), [V16.S4]
	VLD1.P 16(R0), [V20.S4]
	VFSUB(31, 16, 16)
	VFADD(20, 0, 0)
	VFMLA  V20.S4, V16.S4, V4.S4
	SUBS   $1, R9, R9
	BNE    rr_loop4

rr_1:
	AND $3, R10, R9
	CBZ R9, rr_sum

rr_loop1:
	FMOVS.P 4(R1), F16
	FMOVS.P 4(R0), F20
	FSUBS   F31, F16, F16
	FADDS   F20, F24, F24
	FMADDS  F20, F25, F16, F25 // F25 += d*dy
	SUBS    $1, R9, R9
	BNE     rr_loop1

rr_sum:
	HSUM4(0, 1, 2, 3)
	HSUM4(4, 5, 6, 7)
	FADDS  F24, F0, F0
	FADDS  F25, F4, F4
	FCVTSD F0, F0
	FCVTSD F4, F4
	FADDD  F0, F30, F30
	FADDD  F4, F29, F29
	CBNZ   R7, rr_chunk

rr_store:
	FMOVD   (R2), F0
	FADDD   F30, F0, F0
	FMOVD.P F0, 8(R2)
	FMOVD   (R3), F4
	FADDD   F29, F4, F4
	FMOVD.P F4, 8(R3)
	SUBS    $1, R5, R5
	BNE     rr_run

rr_done:
	RET

// Reducing a column block: one row of 16 channels of x at R10 and dy at R8, both then
// advanced by the stride (R7); center in V28-V31, Σdy in V0-V3, Σdy·d in V4-V7. Rows add
// in order, in both sets.
#define RC16A \
	VLD1.P (R10)(R7), [V16.S4, V17.S4, V18.S4, V19.S4]; \
	VLD1.P (R8)(R7), [V20.S4, V21.S4, V22.S4, V23.S4]; \
	VFSUB(28, 16, 16); \
	VFSUB(29, 17, 17); \
	VFSUB(30, 18, 18); \
	VFSUB(31, 19, 19); \
	VFADD(20, 0, 0); \
	VFADD(21, 1, 1); \
	VFADD(22, 2, 2); \
	VFADD(23, 3, 3); \
	VFMLA  V20.S4, V16.S4, V4.S4; \
	VFMLA  V21.S4, V17.S4, V5.S4; \
	VFMLA  V22.S4, V18.S4, V6.S4; \
	VFMLA  V23.S4, V19.S4, V7.S4

#define RC16B \
	VLD1.P (R10)(R7), [V8.S4, V9.S4, V10.S4, V11.S4]; \
	VLD1.P (R8)(R7), [V12.S4, V13.S4, V14.S4, V15.S4]; \
	VFSUB(28, 8, 8); \
	VFSUB(29, 9, 9); \
	VFSUB(30, 10, 10); \
	VFSUB(31, 11, 11); \
	VFADD(12, 0, 0); \
	VFADD(13, 1, 1); \
	VFADD(14, 2, 2); \
	VFADD(15, 3, 3); \
	VFMLA  V12.S4, V8.S4, V4.S4; \
	VFMLA  V13.S4, V9.S4, V5.S4; \
	VFMLA  V14.S4, V10.S4, V6.S4; \
	VFMLA  V15.S4, V11.S4, V7.S4

// ADD16F64 widens the 16 float32 sums in Va-Vd to float64 and adds them to the 16 float64
// values at ptr, which it advances past them. It uses V8-V23.
#define ADD16F64(a, b, c, d, ptr) \
	VFCVTL(a, 16); \
	VFCVTL2(a, 17); \
	VFCVTL(b, 18); \
	VFCVTL2(b, 19); \
	VFCVTL(c, 20); \
	VFCVTL2(c, 21); \
	VFCVTL(d, 22); \
	VFCVTL2(d, 23); \
	VLD1   (ptr), [V8.D2, V9.D2, V10.D2, V11.D2]; \
	VFADDD(16, 8, 8); \
	VFADDD(17, 9, 9); \
	VFADDD(18, 10, 10); \
	VFADDD(19, 11, 11); \
	VST1.P [V8.D2, V9.D2, V10.D2, V11.D2], 64(ptr); \
	VLD1   (ptr), [V12.D2, V13.D2, V14.D2, V15.D2]; \
	VFADDD(20, 12, 12); \
	VFADDD(21, 13, 13); \
	VFADDD(22, 14, 14); \
	VFADDD(23, 15, 15); \
	VST1.P [V12.D2, V13.D2, V14.D2, V15.D2], 64(ptr)

// func reduceColsChunkNEON(sumDy, sumDyXc []float64, dy, x, center []float32, rows, stride int)
//
// For each of the len(center) channels i, adds Σdy to sumDy[i] and Σdy·(x-center[i]) to
// sumDyXc[i] over the values at r*stride+i of rows r in [0, rows), summed in float32 row by
// row (the same bits for a channel in a block of 16, of 4 or alone) and then added in
// float64.
TEXT ·reduceColsChunkNEON(SB), NOSPLIT, $0-136
	MOVD sumDy_base+0(FP), R2
	MOVD sumDyXc_base+24(FP), R3
	MOVD dy_base+48(FP), R0
	MOVD x_base+72(FP), R1
	MOVD center_base+96(FP), R4
	MOVD center_len+104(FP), R5
	MOVD rows+120(FP), R6
	MOVD stride+128(FP), R7
	LSL  $2, R7, R7 // stride in bytes
	LSR  $2, R6, R12 // groups of four rows
	AND  $3, R6, R13 // rows after them
	CBZ  R6, rc_done
	CMP  $16, R5
	BLT  rc_cols4

rc_cols16:
	VLD1.P 64(R4), [V28.S4, V29.S4, V30.S4, V31.S4]
	ZERO(V0)
	ZERO(V1)
	ZERO(V2)
	ZERO(V3)
	ZERO(V4)
	ZERO(V5)
	ZERO(V6)
	ZERO(V7)
	MOVD R0, R8
	MOVD R1, R10
	CBZ  R12, rc_rest16
	MOVD R12, R11

rc_rows64:
	RC16A
	RC16B
	RC16A
	RC16B
	SUBS $1, R11, R11
	BNE  rc_rows64

rc_rest16:
	CBZ  R13, rc_store16
	MOVD R13, R11

rc_rows16:
	RC16A
	SUBS $1, R11, R11
	BNE  rc_rows16

rc_store16:
	ADD16F64(0, 1, 2, 3, R2)
	ADD16F64(4, 5, 6, 7, R3)
	ADD    $64, R0, R0
	ADD    $64, R1, R1
	SUB    $16, R5, R5
	CMP    $16, R5
	BGE    rc_cols16

rc_cols4:
	CMP    $4, R5
	BLT    rc_cols1
	VLD1.P 16(R4), [V28.S4]
	ZERO(V0)
	ZERO(V4)
	MOVD   R0, R8
	MOVD   R1, R10
	MOVD   R6, R11

rc_rows4:
	VLD1.P (R10)(R7), [V16.S4]
	VLD1.P (R8)(R7), [V20.S4]
	VFSUB(28, 16, 16)
	VFADD(20, 0, 0)
	VFMLA  V20.S4, V16.S4, V4.S4
	SUBS   $1, R11, R11
	BNE    rc_rows4

	VFCVTL(0, 16)
	VFCVTL2(0, 17)
	VLD1   (R2), [V8.D2, V9.D2]
	VFADDD(16, 8, 8)
	VFADDD(17, 9, 9)
	VST1.P [V8.D2, V9.D2], 32(R2)
	VFCVTL(4, 16)
	VFCVTL2(4, 17)
	VLD1   (R3), [V8.D2, V9.D2]
	VFADDD(16, 8, 8)
	VFADDD(17, 9, 9)
	VST1.P [V8.D2, V9.D2], 32(R3)
	ADD    $16, R0, R0
	ADD    $16, R1, R1
	SUB    $4, R5, R5
	B      rc_cols4

rc_cols1:
	CBZ     R5, rc_done
	FMOVS.P 4(R4), F28
	ZERO(V0)
	ZERO(V4)
	MOVD    R0, R8
	MOVD    R1, R10
	MOVD    R6, R11

rc_rows1:
	FMOVS  (R10), F16
	FMOVS  (R8), F20
	ADD    R7, R10, R10
	ADD    R7, R8, R8
	FSUBS  F28, F16, F16
	FADDS  F20, F0, F0
	FMADDS F20, F4, F16, F4 // F4 += d*dy
	SUBS   $1, R11, R11
	BNE    rc_rows1

	FCVTSD  F0, F0
	FMOVD   (R2), F1
	FADDD   F0, F1, F1
	FMOVD.P F1, 8(R2)
	FCVTSD  F4, F4
	FMOVD   (R3), F5
	FADDD   F4, F5, F5
	FMOVD.P F5, 8(R3)
	ADD     $4, R0, R0
	ADD     $4, R1, R1
	SUB     $1, R5, R5
	B       rc_cols1

rc_done:
	RET

// Gradient of runs: center in V28, gy in V29, gx in V30, and ld4r from (R9) gives four
// copies of g0. Set A computes in V16-V19 (x), V8-V11 (dy) and V0-V3, set B in V20-V23,
// V12-V15 and V4-V7.
#define GR16A \
	VLD1.P 64(R2), [V16.S4, V17.S4, V18.S4, V19.S4]; \
	VLD1.P 64(R1), [V8.S4, V9.S4, V10.S4, V11.S4]; \
	VLD4R  (R9), [V0.S4, V1.S4, V2.S4, V3.S4]; \
	VFSUB(28, 16, 16); \
	VFSUB(28, 17, 17); \
	VFSUB(28, 18, 18); \
	VFSUB(28, 19, 19); \
	VFMLA  V29.S4, V8.S4, V0.S4; \
	VFMLA  V29.S4, V9.S4, V1.S4; \
	VFMLA  V29.S4, V10.S4, V2.S4; \
	VFMLA  V29.S4, V11.S4, V3.S4; \
	VFMLA  V30.S4, V16.S4, V0.S4; \
	VFMLA  V30.S4, V17.S4, V1.S4; \
	VFMLA  V30.S4, V18.S4, V2.S4; \
	VFMLA  V30.S4, V19.S4, V3.S4; \
	VST1.P [V0.S4, V1.S4, V2.S4, V3.S4], 64(R0)

#define GR16B \
	VLD1.P 64(R2), [V20.S4, V21.S4, V22.S4, V23.S4]; \
	VLD1.P 64(R1), [V12.S4, V13.S4, V14.S4, V15.S4]; \
	VLD4R  (R9), [V4.S4, V5.S4, V6.S4, V7.S4]; \
	VFSUB(28, 20, 20); \
	VFSUB(28, 21, 21); \
	VFSUB(28, 22, 22); \
	VFSUB(28, 23, 23); \
	VFMLA  V29.S4, V12.S4, V4.S4; \
	VFMLA  V29.S4, V13.S4, V5.S4; \
	VFMLA  V29.S4, V14.S4, V6.S4; \
	VFMLA  V29.S4, V15.S4, V7.S4; \
	VFMLA  V30.S4, V20.S4, V4.S4; \
	VFMLA  V30.S4, V21.S4, V5.S4; \
	VFMLA  V30.S4, V22.S4, V6.S4; \
	VFMLA  V30.S4, V23.S4, V7.S4; \
	VST1.P [V4.S4, V5.S4, V6.S4, V7.S4], 64(R0)

// func gradRunsNEON(dx, dy, x, center, gy, gx, g0 []float32, width int)
//
// For each of the len(center) runs of width values,
// dx = g0[i] + dy*gy[i] + (x - center[i])*gx[i], each product added by fmla. The frame
// holds g0[i] four times, so one ld4r gives four accumulators their starting value.
TEXT ·gradRunsNEON(SB), NOSPLIT, $16-176
	MOVD dx_base+0(FP), R0
	MOVD dy_base+24(FP), R1
	MOVD x_base+48(FP), R2
	MOVD center_base+72(FP), R3
	MOVD center_len+80(FP), R7
	MOVD gy_base+96(FP), R4
	MOVD gx_base+120(FP), R5
	MOVD g0_base+144(FP), R6
	MOVD width+168(FP), R8
	MOVD $g04-16(SP), R9
	CBZ  R7, gr_done

gr_run:
	VLD1R.P 4(R3), [V28.S4] // center
	VLD1R.P 4(R4), [V29.S4] // gy
	VLD1R.P 4(R5), [V30.S4] // gx
	VLD1R.P 4(R6), [V31.S4] // g0
	VST1    [V31.S4], (R9)
	LSR     $6, R8, R10
	CBZ     R10, gr_16

gr_loop64:
	GR16A
	GR16B
	GR16A
	GR16B
	SUBS $1, R10, R10
	BNE  gr_loop64

gr_16:
	AND $63, R8, R10
	LSR $4, R10, R10
	CBZ R10, gr_4

gr_loop16:
	GR16A
	SUBS $1, R10, R10
	BNE  gr_loop16

gr_4:
	AND $15, R8, R11
	LSR $2, R11, R10
	CBZ R10, gr_1

gr_loop4:
	VLD1.P 16(R2), [V16.S4]
	VLD1.P 16(R1), [V8.S4]
	VMOV   V31.B16, V0.B16
	VFSUB(28, 16, 16)
	VFMLA  V29.S4, V8.S4, V0.S4
	VFMLA  V30.S4, V16.S4, V0.S4
	VST1.P [V0.S4], 16(R0)
	SUBS   $1, R10, R10
	BNE    gr_loop4

gr_1:
	AND $3, R11, R10
	CBZ R10, gr_next

gr_loop1:
	FMOVS.P 4(R2), F16
	FMOVS.P 4(R1), F8
	FSUBS   F28, F16, F16
	FMADDS  F29, F31, F8, F0 // F0 = g0 + dy*gy
	FMADDS  F30, F0, F16, F0 // F0 += d*gx
	FMOVS.P F0, 4(R0)
	SUBS    $1, R10, R10
	BNE     gr_loop1

gr_next:
	SUBS $1, R7, R7
	BNE  gr_run

gr_done:
	RET

// Gradient of a column block: one row of 16 channels of x at R12 and dy at R11 to dx at
// R10, all then advanced by the stride (R9); center in V20-V23, gy in V24-V27, gx in
// V28-V31, and the block's g0 at (R6) start the accumulators. Set A computes in V16-V19
// and V0-V3, set B in V12-V15 and V4-V7; both load dy into V8-V11.
#define GC16A \
	VLD1.P (R12)(R9), [V16.S4, V17.S4, V18.S4, V19.S4]; \
	VLD1.P (R11)(R9), [V8.S4, V9.S4, V10.S4, V11.S4]; \
	VLD1   (R6), [V0.S4, V1.S4, V2.S4, V3.S4]; \
	VFSUB(20, 16, 16); \
	VFSUB(21, 17, 17); \
	VFSUB(22, 18, 18); \
	VFSUB(23, 19, 19); \
	VFMLA  V24.S4, V8.S4, V0.S4; \
	VFMLA  V25.S4, V9.S4, V1.S4; \
	VFMLA  V26.S4, V10.S4, V2.S4; \
	VFMLA  V27.S4, V11.S4, V3.S4; \
	VFMLA  V28.S4, V16.S4, V0.S4; \
	VFMLA  V29.S4, V17.S4, V1.S4; \
	VFMLA  V30.S4, V18.S4, V2.S4; \
	VFMLA  V31.S4, V19.S4, V3.S4; \
	VST1.P [V0.S4, V1.S4, V2.S4, V3.S4], (R10)(R9)

#define GC16B \
	VLD1.P (R12)(R9), [V12.S4, V13.S4, V14.S4, V15.S4]; \
	VLD1.P (R11)(R9), [V8.S4, V9.S4, V10.S4, V11.S4]; \
	VLD1   (R6), [V4.S4, V5.S4, V6.S4, V7.S4]; \
	VFSUB(20, 12, 12); \
	VFSUB(21, 13, 13); \
	VFSUB(22, 14, 14); \
	VFSUB(23, 15, 15); \
	VFMLA  V24.S4, V8.S4, V4.S4; \
	VFMLA  V25.S4, V9.S4, V5.S4; \
	VFMLA  V26.S4, V10.S4, V6.S4; \
	VFMLA  V27.S4, V11.S4, V7.S4; \
	VFMLA  V28.S4, V12.S4, V4.S4; \
	VFMLA  V29.S4, V13.S4, V5.S4; \
	VFMLA  V30.S4, V14.S4, V6.S4; \
	VFMLA  V31.S4, V15.S4, V7.S4; \
	VST1.P [V4.S4, V5.S4, V6.S4, V7.S4], (R10)(R9)

// func gradColsTileNEON(dx, dy, x, center, gy, gx, g0 []float32, rows, stride int)
//
// dx = g0[i] + dy*gy[i] + (x - center[i])*gx[i] at r*stride+i for the len(center)
// channels of rows [0, rows), a block of channels at a time, walking the rows inside it.
TEXT ·gradColsTileNEON(SB), NOSPLIT, $0-184
	MOVD dx_base+0(FP), R0
	MOVD dy_base+24(FP), R1
	MOVD x_base+48(FP), R2
	MOVD center_base+72(FP), R3
	MOVD center_len+80(FP), R7
	MOVD gy_base+96(FP), R4
	MOVD gx_base+120(FP), R5
	MOVD g0_base+144(FP), R6
	MOVD rows+168(FP), R8
	MOVD stride+176(FP), R9
	LSL  $2, R9, R9 // stride in bytes
	LSR  $2, R8, R14 // groups of four rows
	AND  $3, R8, R15 // rows after them
	CBZ  R8, gc_done
	CMP  $16, R7
	BLT  gc_cols4

gc_cols16:
	VLD1.P 64(R3), [V20.S4, V21.S4, V22.S4, V23.S4]
	VLD1.P 64(R4), [V24.S4, V25.S4, V26.S4, V27.S4]
	VLD1.P 64(R5), [V28.S4, V29.S4, V30.S4, V31.S4]
	MOVD   R0, R10
	MOVD   R1, R11
	MOVD   R2, R12
	CBZ    R14, gc_rest16
	MOVD   R14, R13

gc_rows64:
	GC16A
	GC16B
	GC16A
	GC16B
	SUBS $1, R13, R13
	BNE  gc_rows64

gc_rest16:
	CBZ  R15, gc_next16
	MOVD R15, R13

gc_rows16:
	GC16A
	SUBS $1, R13, R13
	BNE  gc_rows16

gc_next16:
	ADD $64, R0, R0
	ADD $64, R1, R1
	ADD $64, R2, R2
	ADD $64, R6, R6
	SUB $16, R7, R7
	CMP $16, R7
	BGE gc_cols16

gc_cols4:
	CMP    $4, R7
	BLT    gc_cols1
	VLD1.P 16(R3), [V20.S4]
	VLD1.P 16(R4), [V24.S4]
	VLD1.P 16(R5), [V28.S4]
	MOVD   R0, R10
	MOVD   R1, R11
	MOVD   R2, R12
	MOVD   R8, R13

gc_rows4:
	VLD1.P (R12)(R9), [V16.S4]
	VLD1.P (R11)(R9), [V8.S4]
	VLD1   (R6), [V0.S4]
	VFSUB(20, 16, 16)
	VFMLA  V24.S4, V8.S4, V0.S4
	VFMLA  V28.S4, V16.S4, V0.S4
	VST1.P [V0.S4], (R10)(R9)
	SUBS   $1, R13, R13
	BNE    gc_rows4

	ADD $16, R0, R0
	ADD $16, R1, R1
	ADD $16, R2, R2
	ADD $16, R6, R6
	SUB $4, R7, R7
	B   gc_cols4

gc_cols1:
	CBZ     R7, gc_done
	FMOVS.P 4(R3), F20
	FMOVS.P 4(R4), F24
	FMOVS.P 4(R5), F28
	FMOVS.P 4(R6), F31
	MOVD    R0, R10
	MOVD    R1, R11
	MOVD    R2, R12
	MOVD    R8, R13

gc_rows1:
	FMOVS  (R12), F16
	FMOVS  (R11), F8
	ADD    R9, R12, R12
	ADD    R9, R11, R11
	FSUBS  F20, F16, F16
	FMADDS F24, F31, F8, F0 // F0 = g0 + dy*gy
	FMADDS F28, F0, F16, F0 // F0 += d*gx
	FMOVS  F0, (R10)
	ADD    R9, R10, R10
	SUBS   $1, R13, R13
	BNE    gc_rows1

	ADD $4, R0, R0
	ADD $4, R1, R1
	ADD $4, R2, R2
	SUB $1, R7, R7
	B   gc_cols1

gc_done:
	RET

// func mergeChunksNEON(mean, m2 []float64, k []float32, s1, s2 []float64, inv, wMean, wM2 float64)
//
// Chan's merge of a chunk of n values into (mean[i], m2[i]) for each of the len(k)
// channels, given the chunk's sums shifted by k[i], s1[i] and s2[i], and the factors all
// channels share: inv = 1/n, wMean = n/(count+n), wM2 = count·n/(count+n). Per channel:
//
//	delta = k + s1·inv - mean
//	mean += delta·wMean
//	m2 += max(s2 - s1²·inv, 0) + delta²·wM2
//	k = float32(mean)
//
// The new k is the channel's shift for its next chunk. Four channels at a time in float64
// vectors, then one at a time with the same operations, so a channel's bits do not depend
// on its neighbours.
TEXT ·mergeChunksNEON(SB), NOSPLIT, $0-144
	MOVD  mean_base+0(FP), R0
	MOVD  m2_base+24(FP), R1
	MOVD  k_base+48(FP), R2
	MOVD  k_len+56(FP), R3
	MOVD  s1_base+72(FP), R4
	MOVD  s2_base+96(FP), R5
	FMOVD inv+120(FP), F28
	FMOVD wMean+128(FP), F29
	FMOVD wM2+136(FP), F30
	VDUP  V28.D[0], V28.D2
	VDUP  V29.D[0], V29.D2
	VDUP  V30.D[0], V30.D2
	ZERO(V31)
	MOVD  R2, R6    // where the new k go
	LSR   $2, R3, R7
	AND   $3, R3, R8
	CBZ   R7, mg_one

mg_loop4:
	VLD1.P 16(R2), [V0.S4]
	VLD1.P 32(R4), [V2.D2, V3.D2]
	VLD1.P 32(R5), [V4.D2, V5.D2]
	VLD1   (R0), [V6.D2, V7.D2]
	VLD1   (R1), [V8.D2, V9.D2]
	VFCVTL(0, 10)
	VFCVTL2(0, 11)
	VFMLA  V28.D2, V2.D2, V10.D2 // k + s1·inv
	VFMLA  V28.D2, V3.D2, V11.D2
	VFSUBD(6, 10, 10)            // delta
	VFSUBD(7, 11, 11)
	VFMLA  V29.D2, V10.D2, V6.D2 // mean
	VFMLA  V29.D2, V11.D2, V7.D2
	VFMULD(2, 2, 2)              // s1²
	VFMULD(3, 3, 3)
	VFMLS  V28.D2, V2.D2, V4.D2  // s2 - s1²·inv
	VFMLS  V28.D2, V3.D2, V5.D2
	VFMAXD(31, 4, 4)
	VFMAXD(31, 5, 5)
	VFADDD(4, 8, 8)
	VFADDD(5, 9, 9)
	VFMULD(10, 10, 10)           // delta²
	VFMULD(11, 11, 11)
	VFMLA  V30.D2, V10.D2, V8.D2 // m2
	VFMLA  V30.D2, V11.D2, V9.D2
	VST1.P [V6.D2, V7.D2], 32(R0)
	VST1.P [V8.D2, V9.D2], 32(R1)
	VFCVTN(6, 12)
	VFCVTN2(7, 12)
	VST1.P [V12.S4], 16(R6)
	SUBS   $1, R7, R7
	BNE    mg_loop4

mg_one:
	CBZ R8, mg_done

mg_loop1:
	FMOVS.P 4(R2), F0
	FMOVD.P 8(R4), F2
	FMOVD.P 8(R5), F4
	FMOVD   (R0), F6
	FMOVD   (R1), F8
	FCVTSD  F0, F10
	FMADDD  F28, F10, F2, F10 // k + s1·inv
	FSUBD   F6, F10, F10      // delta
	FMADDD  F29, F6, F10, F6  // mean
	FMULD   F2, F2, F2        // s1²
	FMSUBD  F28, F4, F2, F4   // s2 - s1²·inv
	FMAXD   F31, F4, F4
	FADDD   F4, F8, F8
	FMULD   F10, F10, F10     // delta²
	FMADDD  F30, F8, F10, F8  // m2
	FMOVD.P F6, 8(R0)
	FMOVD.P F8, 8(R1)
	FCVTDS  F6, F12
	FMOVS.P F12, 4(R6)
	SUBS    $1, R8, R8
	BNE     mg_loop1

mg_done:
	RET
