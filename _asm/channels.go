package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The per-channel work between the passes: a vector of channels at a time, since
// amd64's scalar conversions between float32 and float64 wait on each other (each
// merges into its destination register's old value). Every operation is rounded once in
// float64, in the generic kernels' order, so that the results are theirs to the bit.

// save emits the statistics Forward leaves for Backward: center = float32(mean),
// residual = float32(mean - center) and inv = float32(invStd).
func (w *isa) save() {
	w.text("save", "func(center, residual, inv []float32, mean, invStd []float64)")
	Comment("save" + w.name + ": center, residual and inv from mean and invStd, len(center) values.")
	p := bases([]string{"center", "residual", "inv", "mean", "invStd"})
	center, residual, inv, mean, invStd := p[0], p[1], p[2], p[3], p[4]
	n := Load(Param("center").Len(), GP64())
	w.setTail(n)
	w.loop(n, 1, func(i Register, _ int, tail bool) {
		m := w.loadPD(Mem{Base: mean, Index: i, Scale: 2}, tail)
		s := w.loadPD(Mem{Base: invStd, Index: i, Scale: 2}, tail)
		c := w.narrow(m)
		var r [2]VecVirtual
		for h := range 2 {
			r[h] = w.widen(c, h)
			VSUBPD(r[h], m[h], r[h])
		}
		w.store(c, at(center, i, 0), tail)
		w.store(w.narrow(r), at(residual, i, 0), tail)
		w.store(w.narrow(s), at(inv, i, 0), tail)
	})
	w.ret()
}

// track emits the update of the running statistics: runMean = keep·runMean +
// factor·mean and runVar = keep·runVar + factor·(m2·inv), with keep = 1 - factor.
func (w *isa) track() {
	w.text("track", "func(runMean, runVar []float32, mean, m2 []float64, factor, inv float64)")
	Comment("track" + w.name + ": moves runMean and runVar toward mean and m2·inv by factor, len(runMean) values.")
	p := bases([]string{"runMean", "runVar", "mean", "m2"})
	runMean, runVar, mean, m2 := p[0], p[1], p[2], p[3]
	n := Load(Param("runMean").Len(), GP64())
	w.setTail(n)
	factor, keep, inv := w.vec(), w.vec(), w.vec()
	VBROADCASTSD(addr(Param("factor")), factor)
	VBROADCASTSD(addr(Param("inv")), inv)
	t := GP64()
	MOVQ(U64(0x3ff0000000000000), t) // 1.0
	VMOVQ(t, keep.AsX())
	VSUBSD(addr(Param("factor")), keep.AsX(), keep.AsX())
	VBROADCASTSD(keep.AsX(), keep)
	w.loop(n, 1, func(i Register, _ int, tail bool) {
		m := w.loadPD(Mem{Base: mean, Index: i, Scale: 2}, tail)
		q := w.loadPD(Mem{Base: m2, Index: i, Scale: 2}, tail)
		rm, rv := w.vec(), w.vec()
		w.load(at(runMean, i, 0), rm, tail)
		w.load(at(runVar, i, 0), rv, tail)
		var a, b [2]VecVirtual
		for h := range 2 {
			a[h] = w.widen(rm, h)
			VMULPD(keep, a[h], a[h])
			VMULPD(factor, m[h], m[h])
			VADDPD(m[h], a[h], a[h])
			b[h] = w.widen(rv, h)
			VMULPD(keep, b[h], b[h])
			VMULPD(inv, q[h], q[h])
			VMULPD(factor, q[h], q[h])
			VADDPD(q[h], b[h], b[h])
		}
		w.store(w.narrow(a), at(runMean, i, 0), tail)
		w.store(w.narrow(b), at(runVar, i, 0), tail)
	})
	w.ret()
}

// narrowAll emits dst = float32(src·scale).
func (w *isa) narrowAll() {
	w.text("narrow", "func(dst []float32, src []float64, scale float64)")
	Comment("narrow" + w.name + ": dst[i] = float32(src[i]·scale), len(dst) values.")
	p := bases([]string{"dst", "src"})
	dst, src := p[0], p[1]
	n := Load(Param("dst").Len(), GP64())
	scale := w.vec()
	VBROADCASTSD(addr(Param("scale")), scale)
	w.setTail(n)
	w.loop(n, 1, func(i Register, _ int, tail bool) {
		v := w.loadPD(Mem{Base: src, Index: i, Scale: 2}, tail)
		for h := range v {
			VMULPD(scale, v[h], v[h])
		}
		w.store(w.narrow(v), at(dst, i, 0), tail)
	})
	w.ret()
}

// widenAll emits dst = float64(src).
func (w *isa) widenAll() {
	w.text("widen", "func(dst []float64, src []float32)")
	Comment("widen" + w.name + ": dst[i] = float64(src[i]), len(src) values.")
	p := bases([]string{"dst", "src"})
	dst, src := p[0], p[1]
	n := Load(Param("src").Len(), GP64())
	w.setTail(n)
	w.loop(n, 1, func(i Register, _ int, tail bool) {
		v := w.vec()
		w.load(at(src, i, 0), v, tail)
		w.storePD([2]VecVirtual{w.widen(v, 0), w.widen(v, 1)}, Mem{Base: dst, Index: i, Scale: 2}, tail)
	})
	w.ret()
}

// gradCoefficients emits Backward's per-channel coefficients from a tile's sums (see
// gradCoefficientsGeneric). Negation passes exactly through a product, so -γ·invStd·…·invM
// is formed as γ·invStd·…·(-invM), which is the generic kernel's value to the bit.
func (w *isa) gradCoefficients() {
	w.text("gradCoefficients", "func(gy, gx, g0, dWeight, dBias []float32, sumDy, sumDyXc []float64, invStd, weight, lo []float32, invM float64)")
	Comment("gradCoefficients"+w.name+": gy, gx and g0, Σdy·(x-mean) in sumDyXc, and dWeight and dBias",
		"unless empty, from len(sumDy) channels' sums.")
	p := bases([]string{"gy", "gx", "g0", "dWeight", "dBias", "sumDy", "sumDyXc", "invStd", "weight", "lo"})
	gy, gx, g0, dWeight, dBias, sumDy, sumDyXc, invStd, weight, lo := p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9]
	n := Load(Param("sumDy").Len(), GP64())
	w.setTail(n)
	negInvM := w.vec()
	VBROADCASTSD(addr(Param("invM")), negInvM)
	z := w.vec()
	w.zero(z)
	VSUBPD(negInvM, z, negInvM) // -invM, exactly: invM is not 0
	// The stages below keep AVX2 within its sixteen registers.
	w.loop(n, 1, func(i Register, _ int, tail bool) {
		sDy := w.loadPD(Mem{Base: sumDy, Index: i, Scale: 2}, tail)
		sXc := w.loadPD(Mem{Base: sumDyXc, Index: i, Scale: 2}, tail)
		inv32, lo32 := w.vec(), w.vec()
		w.load(at(invStd, i, 0), inv32, tail)
		w.load(at(lo, i, 0), lo32, tail)
		for h := range 2 {
			t := w.widen(lo32, h)
			VMULPD(sDy[h], t, t)
			VSUBPD(t, sXc[h], sXc[h]) // Σdy·(x - mean)
		}
		w.storePD(sXc, Mem{Base: sumDyXc, Index: i, Scale: 2}, tail)
		w.optional(dWeight, "dWeight", i, tail, func() [2]VecVirtual {
			var d [2]VecVirtual
			for h := range 2 {
				d[h] = w.widen(inv32, h)
				VMULPD(sXc[h], d[h], d[h])
			}
			return d
		})
		w.optional(dBias, "dBias", i, tail, func() [2]VecVirtual { return sDy })
		gamma := w.vec()
		w.load(at(weight, i, 0), gamma, tail)
		var dyScale [2]VecVirtual
		for h := range 2 {
			dyScale[h] = w.widen(gamma, h)
			s := w.widen(inv32, h)
			VMULPD(s, dyScale[h], dyScale[h])
		}
		w.store(w.narrow(dyScale), at(gy, i, 0), tail)
		var xScale, shift [2]VecVirtual
		for h := range 2 {
			d, s := w.widen(gamma, h), w.widen(inv32, h)
			VMULPD(s, d, d) // γ·invStd again, rather than held in two registers
			shift[h] = w.vec()
			VMULPD(sDy[h], d, shift[h])
			VMULPD(negInvM, shift[h], shift[h])
			xScale[h] = d
			VMULPD(s, xScale[h], xScale[h])
			VMULPD(s, xScale[h], xScale[h])
			VMULPD(sXc[h], xScale[h], xScale[h])
			VMULPD(negInvM, xScale[h], xScale[h])
			l := w.widen(lo32, h)
			VMULPD(xScale[h], l, l)
			VSUBPD(l, shift[h], shift[h])
		}
		w.store(w.narrow(xScale), at(gx, i, 0), tail)
		w.store(w.narrow(shift), at(g0, i, 0), tail)
	})
	w.ret()
}

// optional stores the float32 of value() to the vector at byte offset i of the slice
// param, whose base is in base, unless the slice is empty.
func (w *isa) optional(base Register, param string, i Register, tail bool, value func() [2]VecVirtual) {
	skip := w.label("no" + param)
	CMPQ(addr(Param(param).Len()), U8(0))
	JEQ(LabelRef(skip))
	w.store(w.narrow(value()), at(base, i, 0), tail)
	Label(skip)
}
