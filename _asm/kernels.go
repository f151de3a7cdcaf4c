package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/gotypes"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The kernels. Each TEXT block's comment says what it computes; the Go wrappers in
// bn_amd64.go check the slices, so the assembly assumes at least one channel, sample and
// value, and every slice long enough for the loops below.

// runChunk is how many values of a run are summed in float32 before moving to float64,
// as in the generic kernels. It is a multiple of every vector width, so only a run's last
// chunk has a tail.
const runChunk = 256

// unroll is how many vectors the streaming loops handle per step.
const unroll = 4

// colBlock is how many vectors of channels the cols reductions keep accumulators for
// while they walk down the rows: as many as the registers hold.
func (w *isa) colBlock() int {
	if w.zmm {
		return 4
	}
	return 2
}

// rowsElementwise emits the rows form of an elementwise kernel: for each sample and each
// channel, a run of width values, with the channel's parameters broadcast.
//
// data lists the tensors (outputs first; all share offsets), params the per-channel
// slices (params[0] gives the channel count). op computes one vector from the loaded
// data vectors and the broadcast parameters and returns the results to store, one per
// output.
func (w *isa) rowsElementwise(doc, name, sig string, data []string, outputs int, params []string,
	op func(in, p []VecVirtual) []VecVirtual) {
	w.text(name, sig)
	Comment(name + w.name + doc)
	ptr := make([]Register, len(data))
	for d, name := range data {
		ptr[d] = Load(Param(name).Base(), GP64())
	}
	width := Load(Param("width"), GP64())
	samples := Load(Param("samples"), GP64())
	skip := w.sampleSkip(width, Param(params[0]).Len())
	w.setTail(width)

	sample := w.label("sample")
	Label(sample)
	ch := GP64()
	XORQ(ch, ch)
	channel := w.label("channel")
	Label(channel)
	p := make([]VecVirtual, len(params))
	for j, name := range params {
		b := Load(Param(name).Base(), GP64())
		p[j] = w.vec()
		VBROADCASTSS(Mem{Base: b, Index: ch, Scale: 4}, p[j])
	}
	i := w.loop(width, unroll, func(i Register, nv int, tail bool) {
		for u := range nv {
			in := make([]VecVirtual, len(data)-outputs)
			for d := range in {
				in[d] = w.vec()
				w.load(at(ptr[outputs+d], i, u*w.size()), in[d], tail)
			}
			for d, r := range op(in, p) {
				w.store(r, at(ptr[d], i, u*w.size()), tail)
			}
		}
	})
	for d := range data {
		ADDQ(i, ptr[d])
	}
	INCQ(ch)
	CMPQ(ch, addr(Param(params[0]).Len()))
	JB(LabelRef(channel))
	for d := range data {
		ADDQ(skip, ptr[d])
	}
	DECQ(samples)
	JNZ(LabelRef(sample))
	VZEROUPPER()
	RET()
}

// sampleSkip returns the bytes from the end of a sample's n runs of width values to the
// start of the next sample's: stride - n*width values.
func (w *isa) sampleSkip(width Register, n Component) Register {
	skip, t := GP64(), GP64()
	Load(Param("stride"), skip)
	Load(n, t)
	IMULQ(width, t)
	SUBQ(t, skip)
	SHLQ(U8(2), skip)
	return skip
}

// colsElementwise emits the cols form of an elementwise kernel: for each row, the tile's
// channels side by side, with the parameters loaded as vectors alongside.
func (w *isa) colsElementwise(doc, name, sig string, data []string, outputs int, params []string,
	op func(in, p []VecVirtual) []VecVirtual) {
	w.text(name, sig)
	Comment(name + w.name + doc)
	base := make([]Register, len(data))
	for d, name := range data {
		base[d] = Load(Param(name).Base(), GP64())
	}
	pbase := make([]Register, len(params))
	for j, name := range params {
		pbase[j] = Load(Param(name).Base(), GP64())
	}
	n := addr(Param(params[0]).Len())
	rows := Load(Param("rows"), GP64())
	stride := Load(Param("stride"), GP64())
	SHLQ(U8(2), stride)
	w.setTail(n)

	row := w.label("row")
	Label(row)
	w.loop(n, unroll, func(i Register, nv int, tail bool) {
		for u := range nv {
			in := make([]VecVirtual, len(data)-outputs)
			for d := range in {
				in[d] = w.vec()
				w.load(at(base[outputs+d], i, u*w.size()), in[d], tail)
			}
			p := make([]VecVirtual, len(params))
			for j := range params {
				p[j] = w.vec()
				w.load(at(pbase[j], i, u*w.size()), p[j], tail)
			}
			for d, r := range op(in, p) {
				w.store(r, at(base[d], i, u*w.size()), tail)
			}
		}
	})
	for d := range data {
		ADDQ(stride, base[d])
	}
	DECQ(rows)
	JNZ(LabelRef(row))
	VZEROUPPER()
	RET()
}

// affine is y = (x - center)*scale + shift: a subtraction and one FMA.
func affine(in, p []VecVirtual) []VecVirtual {
	x, center, scale, shift := in[0], p[0], p[1], p[2]
	VSUBPS(center, x, x)
	VFMADD213PS(shift, scale, x)
	return []VecVirtual{x}
}

// gradient is dx = (x - center)*gx + dy*gy + g0: a subtraction and two FMAs.
func gradient(in, p []VecVirtual) []VecVirtual {
	dy, x, center, gy, gx, g0 := in[0], in[1], p[0], p[1], p[2], p[3]
	VSUBPS(center, x, x)
	VFMADD213PS(g0, gy, dy)
	VFMADD231PS(gx, x, dy)
	return []VecVirtual{dy}
}

func (w *isa) normalize() {
	w.rowsElementwise(": y = (x - center[i])*scale[i] + shift[i] over runs of width values.", "normRows",
		"func(y, x, center, scale, shift []float32, width, samples, stride int)",
		[]string{"y", "x"}, 1, []string{"center", "scale", "shift"}, affine)
	w.colsElementwise(": y = (x - center[i])*scale[i] + shift[i] over rows of len(center) values.", "normCols",
		"func(y, x, center, scale, shift []float32, rows, stride int)",
		[]string{"y", "x"}, 1, []string{"center", "scale", "shift"}, affine)
}

func (w *isa) grad() {
	w.rowsElementwise(": dx = (x - center[i])*gx[i] + dy*gy[i] + g0[i] over runs of width values.", "gradRows",
		"func(dx, dy, x, center, gy, gx, g0 []float32, width, samples, stride int)",
		[]string{"dx", "dy", "x"}, 1, []string{"center", "gy", "gx", "g0"}, gradient)
	w.colsElementwise(": dx = (x - center[i])*gx[i] + dy*gy[i] + g0[i] over rows of len(center) values.", "gradCols",
		"func(dx, dy, x, center, gy, gx, g0 []float32, rows, stride int)",
		[]string{"dx", "dy", "x"}, 1, []string{"center", "gy", "gx", "g0"}, gradient)
}

// A sumStep emits the work on one vector of a sum: it loads the values (at gives the
// vector's address in data pointer p) and adds its two terms to the float32
// accumulators a and q.
type sumStep func(at func(p int) Mem, u int, tail bool, a, q VecVirtual)

// runSums emits the sum of a run of width values into the float64 vectors d1 and d2
// (zeroed here): in chunks of runChunk values summed in float32 over unroll pairs of
// accumulators, each chunk's sums then added in float64. The data pointers advance past
// the run.
func (w *isa) runSums(width Register, ptrs []Register, d1, d2 VecVirtual, step sumStep) {
	w.zero(d1)
	w.zero(d2)
	rem, m := GP64(), GP64()
	MOVQ(width, rem)
	chunk := w.label("chunk")
	Label(chunk)
	MOVQ(U32(runChunk), m)
	CMPQ(rem, m)
	CMOVQLT(rem, m)
	var acc1, acc2 [unroll]VecVirtual
	for u := range unroll {
		acc1[u], acc2[u] = w.vec(), w.vec()
		w.zero(acc1[u])
		w.zero(acc2[u])
	}
	i := w.loop(m, unroll, func(i Register, nv int, tail bool) {
		for u := range nv {
			step(func(p int) Mem { return at(ptrs[p], i, u*w.size()) }, u, tail, acc1[u], acc2[u])
		}
	})
	for _, acc := range [][unroll]VecVirtual{acc1, acc2} {
		VADDPS(acc[1], acc[0], acc[0])
		VADDPS(acc[3], acc[2], acc[2])
		VADDPS(acc[2], acc[0], acc[0])
	}
	w.addWide(d1, acc1[0])
	w.addWide(d2, acc2[0])
	for _, p := range ptrs {
		ADDQ(i, p)
	}
	SUBQ(m, rem)
	JNZ(LabelRef(chunk))
	w.hsumPD(d1)
	w.hsumPD(d2)
}

func (w *isa) momentsRows() {
	w.text("sumsRows", "func(s1, s2 []float64, x, k []float32, width int)")
	Comment("sumsRows"+w.name+": for each channel i, the run x[i*width:][:width] shifted by k[i]:",
		"s1[i] = Σ(x-k[i]) and s2[i] = Σ(x-k[i])², summed in float32 over chunks of",
		"runChunk values and in float64 across them.")
	s1 := Load(Param("s1").Base(), GP64())
	s2 := Load(Param("s2").Base(), GP64())
	x := Load(Param("x").Base(), GP64())
	kp := Load(Param("k").Base(), GP64())
	n := Load(Param("k").Len(), GP64())
	width := Load(Param("width"), GP64())
	w.setTail(width)
	ch := GP64()
	XORQ(ch, ch)
	channel := w.label("channel")
	Label(channel)
	k := w.vec()
	VBROADCASTSS(Mem{Base: kp, Index: ch, Scale: 4}, k)
	d1, d2 := w.vec(), w.vec()
	w.runSums(width, []Register{x}, d1, d2, func(at func(int) Mem, _ int, tail bool, a, q VecVirtual) {
		d := w.vec()
		w.load(at(0), d, tail)
		if tail {
			w.subTail(k, d, d)
		} else {
			VSUBPS(k, d, d)
		}
		VADDPS(d, a, a)
		VFMADD231PS(d, d, q)
	})
	VMOVSD(d1.AsX(), Mem{Base: s1, Index: ch, Scale: 8})
	VMOVSD(d2.AsX(), Mem{Base: s2, Index: ch, Scale: 8})
	INCQ(ch)
	CMPQ(ch, n)
	JB(LabelRef(channel))
	VZEROUPPER()
	RET()
}

func (w *isa) reduceRows() {
	w.text("reduceRows", "func(sumDy, sumDyXc []float64, dy, x, center []float32, width, samples, stride int)")
	Comment("reduceRows"+w.name+": for each sample and channel i, adds Σdy and Σdy·(x-center[i])",
		"over the run of width values to sumDy[i] and sumDyXc[i], summed in float32 over",
		"chunks of runChunk values and in float64 across them.")
	dy := Load(Param("dy").Base(), GP64())
	x := Load(Param("x").Base(), GP64())
	width := Load(Param("width"), GP64())
	samples := Load(Param("samples"), GP64())
	skip := w.sampleSkip(width, Param("center").Len())
	w.setTail(width)

	sample := w.label("sample")
	Label(sample)
	ch := GP64()
	XORQ(ch, ch)
	channel := w.label("channel")
	Label(channel)
	cp := Load(Param("center").Base(), GP64())
	c := w.vec()
	VBROADCASTSS(Mem{Base: cp, Index: ch, Scale: 4}, c)
	d1, d2 := w.vec(), w.vec()
	w.runSums(width, []Register{dy, x}, d1, d2, func(at func(int) Mem, _ int, tail bool, a, q VecVirtual) {
		g, d := w.vec(), w.vec()
		w.load(at(0), g, tail)
		w.load(at(1), d, tail)
		VSUBPS(c, d, d) // masked lanes: dy is 0, so the product is too
		VADDPS(g, a, a)
		VFMADD231PS(g, d, q)
	})
	for _, s := range []struct {
		name string
		v    VecVirtual
	}{{"sumDy", d1}, {"sumDyXc", d2}} {
		b := Load(Param(s.name).Base(), GP64())
		m := Mem{Base: b, Index: ch, Scale: 8}
		VADDSD(m, s.v.AsX(), s.v.AsX())
		VMOVSD(s.v.AsX(), m)
	}
	INCQ(ch)
	CMPQ(ch, addr(Param("center").Len()))
	JB(LabelRef(channel))
	ADDQ(skip, dy)
	ADDQ(skip, x)
	DECQ(samples)
	JNZ(LabelRef(sample))
	VZEROUPPER()
	RET()
}

// colBlocks emits, for blocks of channels, sums down rows rows of the cols data: body
// gets the byte offset ci of the block's first channel, the number of vectors nv and
// whether the block is the tail, and emits the block's work.
func (w *isa) colBlocks(n Register, body func(ci Register, nv int, tail bool)) {
	w.loop(n, w.colBlock(), body)
}

// colAccumulate emits the walk down rows rows from the row pointers ptrs (copied, the
// block's offset ci added) for nv vectors, step adding each row's vector u to the
// float32 accumulators, which it returns (zeroed first).
func (w *isa) colAccumulate(rows, ci, stride Register, ptrs []Register, nv int, tail bool,
	step sumStep) (acc1, acc2 []VecVirtual) {
	acc1, acc2 = make([]VecVirtual, nv), make([]VecVirtual, nv)
	for u := range nv {
		acc1[u], acc2[u] = w.vec(), w.vec()
		w.zero(acc1[u])
		w.zero(acc2[u])
	}
	p := make([]Register, len(ptrs))
	for j := range ptrs {
		p[j] = GP64()
		LEAQ(Mem{Base: ptrs[j], Index: ci, Scale: 1}, p[j])
	}
	r := GP64()
	MOVQ(rows, r)
	row := w.label("row")
	Label(row)
	for u := range nv {
		step(func(j int) Mem { return Mem{Base: p[j], Disp: u * w.size()} }, u, tail, acc1[u], acc2[u])
	}
	for j := range p {
		ADDQ(stride, p[j])
	}
	DECQ(r)
	JNZ(LabelRef(row))
	return acc1, acc2
}

func (w *isa) momentsCols() {
	w.text("momentsCols", "func(mean, m2 []float64, k, x []float32, rows, stride int, fn, wNew, wCross float64)")
	Comment("momentsCols"+w.name+": merges rows rows (one chunk) of len(k) channels into mean and m2:",
		"each channel's values shifted by k[i] are summed in float32, then merged in float64",
		"by Chan's formula, mean += δ·wNew and m2 += M2 + δ²·wCross, with δ the chunk's",
		"mean less mean and M2 its sum of squared deviations (rows = fn values).")
	mean := Load(Param("mean").Base(), GP64())
	m2 := Load(Param("m2").Base(), GP64())
	kp := Load(Param("k").Base(), GP64())
	x := Load(Param("x").Base(), GP64())
	n := Load(Param("k").Len(), GP64())
	rows := Load(Param("rows"), GP64())
	stride := Load(Param("stride"), GP64())
	SHLQ(U8(2), stride)
	w.setTail(n)
	w.colBlocks(n, func(ci Register, nv int, tail bool) {
		k := make([]VecVirtual, nv)
		for u := range nv {
			k[u] = w.vec()
			w.load(Mem{Base: kp, Index: ci, Scale: 1, Disp: u * w.size()}, k[u], tail)
		}
		s1, s2 := w.colAccumulate(rows, ci, stride, []Register{x}, nv, tail,
			func(at func(int) Mem, u int, tail bool, a, q VecVirtual) {
				d := w.vec()
				w.load(at(0), d, tail)
				VSUBPS(k[u], d, d) // masked lanes: x and k are both 0
				VADDPS(d, a, a)
				VFMADD231PS(d, d, q)
			})
		for u := range nv {
			at := Mem{Base: mean, Index: ci, Scale: 2, Disp: 2 * u * w.size()}
			mv := w.loadPD(at, tail)
			var q [2]VecVirtual
			for h := range 2 {
				fn := w.vec()
				VBROADCASTSD(addr(Param("fn")), fn)
				kd, a := w.widen(k[u], h), w.widen(s1[u], h)
				q[h] = w.widen(s2[u], h)
				t := w.vec()
				VDIVPD(fn, a, t)
				VADDPD(t, kd, kd) // the chunk's mean, k + s1/fn
				VMULPD(a, a, a)
				VDIVPD(fn, a, a)
				VSUBPD(a, q[h], q[h]) // its M2, s2 - s1²/fn
				w.zero(t)
				VMAXPD(q[h], t, q[h]) // max(0, M2), or NaN when M2 is NaN
				VSUBPD(mv[h], kd, kd) // δ
				wn := w.vec()
				VBROADCASTSD(addr(Param("wNew")), wn)
				VFMADD231PD(wn, kd, mv[h])
				VMULPD(kd, kd, kd)
				wc := w.vec()
				VBROADCASTSD(addr(Param("wCross")), wc)
				VFMADD231PD(wc, kd, q[h]) // M2 + δ²·wCross, added to m2 below
			}
			w.storePD(mv, at, tail)
			at.Base = m2
			mq := w.loadPD(at, tail)
			for h := range 2 {
				VADDPD(q[h], mq[h], mq[h])
			}
			w.storePD(mq, at, tail)
		}
	})
	VZEROUPPER()
	RET()
}

func (w *isa) reduceCols() {
	w.text("reduceCols", "func(sumDy, sumDyXc []float64, dy, x, center []float32, rows, stride, first int)")
	Comment("reduceCols"+w.name+": adds Σdy and Σdy·(x-center[i]) over rows rows of len(center) channels",
		"to sumDy[i] and sumDyXc[i], summed in float32 over chunks of rows (first rows, then",
		"32 at a time) and in float64 across them.")
	dy := Load(Param("dy").Base(), GP64())
	x := Load(Param("x").Base(), GP64())
	n := Load(Param("center").Len(), GP64())
	rows := Load(Param("rows"), GP64())
	stride := Load(Param("stride"), GP64())
	SHLQ(U8(2), stride)
	m := Load(Param("first"), GP64())
	w.setTail(n)

	chunk := w.label("chunk")
	Label(chunk)
	w.colBlocks(n, func(ci Register, nv int, tail bool) {
		c := make([]VecVirtual, nv)
		cp := Load(Param("center").Base(), GP64())
		for u := range nv {
			c[u] = w.vec()
			w.load(Mem{Base: cp, Index: ci, Scale: 1, Disp: u * w.size()}, c[u], tail)
		}
		s1, s2 := w.colAccumulate(m, ci, stride, []Register{dy, x}, nv, tail,
			func(at func(int) Mem, u int, tail bool, a, q VecVirtual) {
				g, d := w.vec(), w.vec()
				w.load(at(0), g, tail)
				w.load(at(1), d, tail)
				VSUBPS(c[u], d, d) // masked lanes: dy is 0, so the product is too
				VADDPS(g, a, a)
				VFMADD231PS(g, d, q)
			})
		for u := range nv {
			for _, s := range []struct {
				name string
				v    VecVirtual
			}{{"sumDy", s1[u]}, {"sumDyXc", s2[u]}} {
				b := Load(Param(s.name).Base(), GP64())
				at := Mem{Base: b, Index: ci, Scale: 2, Disp: 2 * u * w.size()}
				v := w.loadPD(at, tail)
				for h := range 2 {
					VADDPD(w.widen(s.v, h), v[h], v[h])
				}
				w.storePD(v, at, tail)
			}
		}
	})
	t := GP64()
	MOVQ(m, t)
	IMULQ(stride, t)
	ADDQ(t, dy)
	ADDQ(t, x)
	SUBQ(m, rows)
	done := w.label("done")
	JZ(LabelRef(done))
	MOVQ(U32(colChunk), m)
	CMPQ(rows, m)
	CMOVQLT(rows, m)
	JMP(LabelRef(chunk))
	Label(done)
	VZEROUPPER()
	RET()
}

// colChunk is how many rows the cols kernels sum in float32 before moving to float64.
const colChunk = 32
