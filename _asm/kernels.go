package main

import (
	"fmt"
	"math/bits"

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
	w.far = addr(Param("prefetch"))
	w.streamed(func() {
		ptr := bases(data)
		width := Load(Param("width"), GP64())
		samples := Load(Param("samples"), GP64())
		skip := w.sampleSkip(width, Param(params[0]).Len())
		if !w.zmm && !w.nt {
			w.setTail(width)
		}
		// AVX-512, and AVX2 when streaming, keep each run's tail, its last partial line,
		// in carry (one ZMM, or the line's two YMM halves), to be stored with the next
		// run's head as one whole line (see mergeHead and carryLines).
		var carry []VecVirtual
		if w.zmm || w.nt {
			if outputs != 1 {
				panic("a carried tail holds one output")
			}
			carry = make([]VecVirtual, 64/w.size())
			for h := range carry {
				carry[h] = w.vec()
				w.zero(carry[h])
			}
		}

		sample := w.label("sample")
		Label(sample)
		ch := GP64()
		XORQ(ch, ch)
		channel := w.label("channel")
		Label(channel)
		w.prefetchPage(ptr[0], nil) // for runs shorter than one step of the loop
		p := w.broadcast(params, ch)
		apply := func(i Register, disp int, tail bool) {
			w.apply(func(d int) Mem { return at(ptr[d], i, disp) }, len(data), outputs, p, tail, op)
		}
		body := func(i Register, nv int, tail bool) {
			if nv == unroll {
				w.prefetchAhead(ptr[outputs:], i, unroll*w.size())
				w.prefetchPage(ptr[0], i)
			}
			if w.zmm && tail { // AVX-512's loop computes the tail into carry
				VMOVAPS(w.compute(func(d int) Mem { return at(ptr[d], i, 0) }, len(data), outputs, p, true, op)[0], carry[0])
				return
			}
			for u := range nv {
				apply(i, u*w.size(), tail)
			}
		}
		var i Register
		switch {
		case w.zmm:
			n := GP64()
			merged, headed := w.label("merged"), w.label("headed")
			TESTQ(ch, ch)
			JNZ(LabelRef(merged))
			MOVQ(w.alignHead(ptr, width, func(i Register) { apply(i, 0, true) }), n)
			JMP(LabelRef(headed))
			Label(merged)
			MOVQ(w.mergeHead(ptr, width, carry[0], len(data), outputs, p, op), n)
			Label(headed)
			w.setTail(n)
			i = w.loop(n, unroll, body)
		case w.nt:
			result := func(at func(d int) Mem, tail bool) VecVirtual {
				return w.compute(at, len(data), outputs, p, tail, op)[0]
			}
			i = w.carryLines(ptr, width, ch, carry, result, body)
		default:
			i = w.loop(width, unroll, body)
		}
		for d := range data {
			ADDQ(i, ptr[d])
		}
		INCQ(ch)
		CMPQ(ch, addr(Param(params[0]).Len()))
		JB(LabelRef(channel))
		if carry != nil {
			w.flushCarry(ptr[0], carry)
		}
		for d := range data {
			ADDQ(skip, ptr[d])
		}
		DECQ(samples)
		JNZ(LabelRef(sample))
		w.ret()
	})
}

// shortRowsElementwise emits the short-run form of an elementwise rows kernel: for each
// group of group samples and each channel, the channel's parameters broadcast once and
// its runs in the group taken by vector position (byPosition), prefetching the inputs a
// group ahead. Walked run by run, a run of a vector or less paid its parameters, head,
// loop and tail: NCHW 16×320×3×3 normalized at 2.4 ns a run of 9 values. Arguments as in
// rowsElementwise, with group in place of stream: it never stores non-temporally.
func (w *isa) shortRowsElementwise(doc, name, sig string, data []string, outputs int, params []string,
	op func(in, p []VecVirtual) []VecVirtual) {
	w.text(name, sig)
	Comment(name + w.name + doc)
	w.far = addr(Param("prefetch"))
	ptr := bases(data)
	width := Load(Param("width"), GP64())
	w.setTail(width)
	stride := w.strideBytes()
	run := GP64()
	MOVQ(width, run)
	SHLQ(U8(2), run)
	n := addr(Param(params[0]).Len())
	m := Load(Param("group"), GP64())
	CMPQ(addr(Param("samples")), m)
	CMOVQLT(addr(Param("samples")), m)

	group := w.label("group")
	Label(group)
	ch := GP64()
	XORQ(ch, ch)
	channel := w.label("channel")
	Label(channel)
	p := w.broadcast(params, ch)
	w.prefetchGroup(ptr[outputs:], m, stride)
	w.byPosition(ptr, m, stride, run, func(at func(d int) Mem, _, _ int, tail bool) {
		w.apply(at, len(data), outputs, p, tail, op)
	})
	for _, q := range ptr {
		ADDQ(run, q)
	}
	INCQ(ch)
	CMPQ(ch, n)
	JB(LabelRef(channel))
	w.nextGroup(ptr, m, stride, run, ch)
	w.nextChunk(m, "samples", addr(Param("group")), group)
	VZEROUPPER()
	RET()
}

// bases loads the base pointers of the slice arguments names.
func bases(names []string) []Register {
	r := make([]Register, len(names))
	for i, name := range names {
		r[i] = Load(Param(name).Base(), GP64())
	}
	return r
}

// apply emits op on one vector of an elementwise kernel's data, at(d) being data pointer
// d's vector, and stores its results to the outputs.
func (w *isa) apply(at func(d int) Mem, data, outputs int, p []VecVirtual, tail bool,
	op func(in, p []VecVirtual) []VecVirtual) {
	for d, r := range w.compute(at, data, outputs, p, tail, op) {
		w.store(r, at(d), tail)
	}
}

// compute returns op's results on one vector of an elementwise kernel's data: the inputs
// (data pointers outputs and after; at(d) is data pointer d's vector) loaded, under the
// tail mask when tail, and op applied with the parameters p.
func (w *isa) compute(at func(d int) Mem, data, outputs int, p []VecVirtual, tail bool,
	op func(in, p []VecVirtual) []VecVirtual) []VecVirtual {
	in := make([]VecVirtual, data-outputs)
	for d := range in {
		in[d] = w.vec()
		w.load(at(outputs+d), in[d], tail)
	}
	return op(in, p)
}

// broadcast loads channel ch's value of each per-channel slice argument in params into
// all lanes of a vector.
func (w *isa) broadcast(params []string, ch Register) []VecVirtual {
	p := make([]VecVirtual, len(params))
	for j, name := range params {
		b := Load(Param(name).Base(), GP64())
		p[j] = w.vec()
		VBROADCASTSS(Mem{Base: b, Index: ch, Scale: 4}, p[j])
	}
	return p
}

// alignHead (AVX-512) emits the first values of a run, up to the first output's next
// 64-byte boundary, as one vector under a mask, and advances the pointers past them; it
// returns the count of values left, whose full vectors are then aligned. A misaligned
// ZMM access spans two cache lines: Infer on NCHW 1×256×14×14, whose runs of 196 values
// start anywhere, took 1.4 times as long as on runs of 192. A run shorter than its head
// is left whole.
func (w *isa) alignHead(ptr []Register, width Register, head func(i Register)) Register {
	h, n := GP64(), GP64()
	MOVQ(width, n)
	MOVQ(ptr[0], h)
	NEGQ(h)
	ANDQ(U8(63), h)
	SHRQ(U8(2), h)
	aligned := w.label("aligned")
	JZ(LabelRef(aligned))
	CMPQ(h, n)
	JAE(LabelRef(aligned))
	t, m, k := GP64(), GP32(), K()
	LEAQ(kmaskTable, t)
	MOVWLZX(Mem{Base: t, Index: h, Scale: 2}, m)
	KMOVW(m, k)
	tail := w.tail
	w.tail = k
	zero := GP64()
	XORQ(zero, zero)
	head(zero)
	w.tail = tail
	SUBQ(h, n)
	SHLQ(U8(2), h)
	for _, p := range ptr {
		ADDQ(h, p)
	}
	Label(aligned)
	return n
}

// mergeHead (AVX-512) is alignHead for a run that starts where the run before ended, its
// tail in carry: the head's lanes are computed in the frame of the output's line (loaded
// from before the run's start, masked) and merged into carry, and the whole line is
// stored, streamed when storing non-temporally. A line split between two runs, stored
// through the cache, had made streaming lose on runs of up to 289 values (Infer on NCHW
// 64×256×14×14 1.21× copy streamed, 1.03× not; on runs of 192, aligned, 0.84×). Through
// the cache, one whole store in place of the two runs' masked ones took 3–8 % off
// Backward on NCHW 32×512×7×7 (runs of 49 values), and up to 17 % off Infer and
// Backward on runs of 17 to 33. It returns the count of values left.
func (w *isa) mergeHead(ptr []Register, width Register, carry VecVirtual, data, outputs int,
	p []VecVirtual, op func(in, p []VecVirtual) []VecVirtual) Register {
	off, n := GP64(), GP64()
	MOVQ(width, n)
	MOVQ(ptr[0], off)
	ANDQ(U8(63), off) // the bytes of the line before the run: the last run's tail
	done := w.label("mergedone")
	JZ(LabelRef(done))
	k := w.lanesFrom(off)
	NEGQ(off)
	tail := w.tail
	w.tail = k
	at := func(d int) Mem { return Mem{Base: ptr[d], Index: off, Scale: 1} }
	VMOVAPS(w.compute(at, data, outputs, p, true, op)[0], k, carry)
	w.tail = tail
	w.store(carry, Mem{Base: ptr[0], Index: off, Scale: 1}, false)
	ADDQ(U8(64), off) // the head's bytes
	for _, q := range ptr {
		ADDQ(off, q)
	}
	SHRQ(U8(2), off)
	SUBQ(off, n)
	Label(done)
	return n
}

// lanesFrom returns a mask of the lanes from off/4 up (off a register of bytes less than
// 64, which it keeps).
func (w *isa) lanesFrom(off Register) Op {
	t, tbl, m, k := GP64(), GP64(), GP32(), K()
	MOVQ(off, t)
	SHRQ(U8(2), t)
	LEAQ(kmaskTable, tbl)
	MOVWLZX(Mem{Base: tbl, Index: t, Scale: 2}, m)
	KMOVW(m, k)
	KNOTW(k, k)
	return k
}

// flushCarry stores the last run's tail, held in carry, through the cache: the bytes of
// the output's line up to out. (AVX2's masked stores stay within the line of the tail's
// first value, so within its page.)
func (w *isa) flushCarry(out Register, carry []VecVirtual) {
	off := GP64()
	MOVQ(out, off)
	ANDQ(U8(63), off)
	done := w.label("flushed")
	JZ(LabelRef(done))
	if w.zmm {
		k := w.lanesFrom(off)
		KNOTW(k, k)
		NEGQ(off)
		VMOVUPS(carry[0], k, Mem{Base: out, Index: off, Scale: 1})
	} else {
		masks := w.lineMasks(off)
		NEGQ(off)
		for h, m := range masks {
			VMASKMOVPS(carry[h], m, Mem{Base: out, Index: off, Scale: 1, Disp: 32 * h})
		}
	}
	Label(done)
}

// carryLines (AVX2, storing non-temporally) emits the loop over a run of width values so
// that every whole line of the output is streamed, the line the run shares with the run
// before included, as mergeHead does for AVX-512: the run's last partial line is computed
// into carry (the line's two halves, values in place), and the next run (the next
// channel) computes its head in the line's frame, takes the lanes from its start, and
// streams the line whole. The first run of a sample stores its head through the cache,
// and flushCarry the last one's tail. (Storing the shared lines through the cache instead
// left Forward on NCHW 64×256×14×14 at 2.7× copy, 1.45 times AVX-512's; carried, 1.9×.)
// ptr are the data pointers, output first, and result computes a vector of output from
// them. Runs hold at least 16 values, which the wrapper guarantees: a head never ends its
// run, and the line's start, before a run, lies in the run before. It returns the byte
// offset past the run, 4·width.
func (w *isa) carryLines(ptr []Register, width, ch Register, carry []VecVirtual,
	result func(at func(d int) Mem, tail bool) VecVirtual, body func(i Register, nv int, tail bool)) Register {
	run, off := GP64(), GP64()
	var i Register = GP64()
	MOVQ(width, run)
	SHLQ(U8(2), run)
	XORQ(i, i)
	MOVQ(ptr[0], off)
	ANDQ(U8(63), off) // the bytes of the line before the run: the last run's tail
	headed, merge := w.label("headed"), w.label("merge")
	JZ(LabelRef(headed))
	MOVQ(U32(64), i)
	SUBQ(off, i) // the head's bytes
	TESTQ(ch, ch)
	JNZ(LabelRef(merge))
	w.nt = false
	n := GP64()
	MOVQ(i, n)
	SHRQ(U8(2), n)
	w.setTail(n)
	w.loop(n, 1, body)
	w.nt = true
	JMP(LabelRef(headed))

	Label(merge)
	keep := w.lineMasks(off)
	NEGQ(off)
	for h := range 2 {
		v := result(func(d int) Mem { return Mem{Base: ptr[d], Index: off, Scale: 1, Disp: 32 * h} }, false)
		VBLENDVPS(keep[h], carry[h], v, v)
		VMOVNTPS(v, Mem{Base: ptr[0], Index: off, Scale: 1, Disp: 32 * h})
	}
	Label(headed)

	lines := GP64()
	MOVQ(run, lines)
	SUBQ(i, lines)
	ANDQ(I8(-64), lines)
	i = w.loopFrom(i, lines, unroll, body)

	rem := GP64()
	MOVQ(run, rem)
	SUBQ(i, rem) // the bytes after the last whole line
	done := w.label("tailkept")
	JZ(LabelRef(done))
	masks, tail := w.lineMasks(rem), w.tail
	w.inLine = true
	for h, m := range masks {
		w.tail = m
		v := result(func(d int) Mem { return Mem{Base: ptr[d], Index: i, Scale: 1, Disp: 32 * h} }, true)
		VMOVAPS(v, carry[h])
	}
	w.inLine, w.tail = false, tail
	Label(done)
	return run
}

// lineMasks returns the lane masks of the two halves of a line's first n bytes (n a
// register, less than 64, which it keeps).
func (w *isa) lineMasks(n Register) [2]VecVirtual {
	lo, hi, t := GP64(), GP64(), GP64()
	MOVQ(n, lo)
	MOVQ(U32(32), t)
	CMPQ(lo, t)
	CMOVQGT(t, lo)
	MOVQ(n, hi)
	SUBQ(lo, hi)
	LEAQ(ymaskTable, t)
	var m [2]VecVirtual
	for h, b := range []Register{lo, hi} {
		NEGQ(b) // from 32-k bytes in, the table holds k bytes of -1, then zeros
		m[h] = YMM()
		VMOVDQU(Mem{Base: t, Index: b, Scale: 1, Disp: 32}, m[h])
	}
	return m
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

// colsElementwise emits the cols form of an elementwise kernel, in two ways chosen by the
// channel count:
//
//   - when the parameters of a whole row fit in registers, it loads them once and walks
//     the rows loading only the data. (Reloading them from memory row after row made
//     AVX-512 twice as slow when they shared address bits 0-11 with the stores of y:
//     4K aliasing.)
//   - otherwise it walks the rows, each row's vectors with their parameters loaded
//     alongside, so that the tensor is still read as one sequential stream.
func (w *isa) colsElementwise(doc, name, sig string, data []string, outputs int, params []string,
	op func(in, p []VecVirtual) []VecVirtual) {
	w.text(name, sig)
	Comment(name + w.name + doc)
	w.streamed(func() {
		n := addr(Param(params[0]).Len())
		stride := Load(Param("stride"), GP64())
		SHLQ(U8(2), stride)
		w.setTail(n)
		// block is how many vectors of parameters stay in registers, with room to spare for
		// the data and temporaries. AVX-512 takes six: with four, the 80 and 96 channels
		// of NHWC 32×80×56×56 and 32×96×28×28 reloaded theirs, gradient 1.66× and 1.98×
		// copy against 1.23× and 1.17×.
		block := 6
		if !w.zmm {
			block = 12 / len(params)
		}
		streaming := w.label("streaming")
		CMPQ(n, U32(block*w.lanes))
		JA(LabelRef(streaming))

		// One walk down the rows for all the row's vectors: one variant per vector count,
		// with the last vector full or the tail.
		nvec := GP64()
		MOVQ(n, nvec)
		ADDQ(U8(w.lanes-1), nvec)
		SHRQ(U8(w.shift()), nvec)
		variant := func(nv int, tail bool) string { return fmt.Sprintf("%s%s_v%d_%v_%v", name, w.name, nv, tail, w.nt) }
		full := w.label("full")
		TESTQ(U32(w.lanes-1), n)
		JZ(LabelRef(full))
		for nv := 1; nv <= block; nv++ {
			CMPQ(nvec, U8(nv))
			JEQ(LabelRef(variant(nv, true)))
		}
		Label(full)
		for nv := 1; nv < block; nv++ {
			CMPQ(nvec, U8(nv))
			JEQ(LabelRef(variant(nv, false)))
		}
		for _, tail := range []bool{false, true} {
			for nv := block; nv >= 1; nv-- {
				Label(variant(nv, tail))
				last := func(u int) bool { return tail && u == nv-1 }
				p := make([][]VecVirtual, nv)
				for u := range nv {
					p[u] = make([]VecVirtual, len(params))
					for j, name := range params {
						b := Load(Param(name).Base(), GP64())
						p[u][j] = w.vec()
						w.load(Mem{Base: b, Disp: u * w.size()}, p[u][j], last(u))
					}
				}
				ptr := bases(data)
				r := Load(Param("rows"), GP64())
				row := w.label("row")
				Label(row)
				// A walk down narrow rows reads a fraction of each row's lines, which the
				// stream prefetchers do not follow: prefetch the inputs ahead (the prefetch
				// argument, zero for tensors that stay in cache).
				t := Load(Param("prefetch"), GP64())
				TESTQ(t, t)
				noPrefetch := w.label("noprefetch")
				JZ(LabelRef(noPrefetch))
				for d := outputs; d < len(data); d++ {
					for u := range nv {
						PREFETCHT0(Mem{Base: ptr[d], Index: t, Scale: 1, Disp: u * w.size()})
					}
				}
				Label(noPrefetch)
				w.prefetchPage(ptr[0], nil)
				for u := range nv {
					w.apply(func(d int) Mem { return Mem{Base: ptr[d], Disp: u * w.size()} }, len(data), outputs, p[u], last(u), op)
				}
				for d := range data {
					ADDQ(stride, ptr[d])
				}
				DECQ(r)
				JNZ(LabelRef(row))
				w.ret()
			}
		}

		// Wide rows: AVX-512, streaming, takes wideRows at a time, each vector's
		// parameters loaded once for them all, then the rows left one at a time. Loading
		// them for every row, its loads had cost more the more there were (though AVX2's,
		// twice as many per byte, did not): the gradient on NHWC 32×128×28×28 took 1.9×
		// copy, 1.2× with no parameter loads at all (a timing test), 1.45× in groups of
		// four rows; 64×512×7×7 1.6× and 1.1×. Unstreamed tensors, which stay in cache,
		// gained nothing (NC 256×1024 lost), and two rows or eight measured no better.
		Label(streaming)
		base, pbase := bases(data), bases(params)
		rows := Load(Param("rows"), GP64())
		groups := []int{1}
		if w.zmm && w.nt {
			groups = []int{wideRows, 1}
		}
		for _, g := range groups {
			top, next := w.label("rows"), w.label("rowsdone")
			Label(top)
			CMPQ(rows, U8(g))
			JB(LabelRef(next))
			w.loop(n, unroll, func(i Register, nv int, tail bool) {
				if nv == unroll {
					w.prefetchPage(base[0], i)
				}
				// One row loads each vector's parameters right before its data (AVX2
				// has no registers to hold them all).
				p := make([][]VecVirtual, nv)
				load := func(u int) {
					p[u] = make([]VecVirtual, len(params))
					for j := range params {
						p[u][j] = w.vec()
						w.load(at(pbase[j], i, u*w.size()), p[u][j], tail)
					}
				}
				o := i // the offset of the vectors in the group's row r
				if g > 1 {
					for u := range nv {
						load(u)
					}
					o = GP64()
					MOVQ(i, o)
				}
				for r := range g {
					if r > 0 {
						ADDQ(stride, o)
					}
					for u := range nv {
						if g == 1 {
							load(u)
						}
						in := make([]VecVirtual, len(data)-outputs)
						for d := range in {
							in[d] = w.vec()
							w.load(at(base[outputs+d], o, u*w.size()), in[d], tail)
						}
						for d, res := range op(in, p[u]) {
							w.store(res, at(base[d], o, u*w.size()), tail)
						}
					}
				}
			})
			for d := range data {
				for range g {
					ADDQ(stride, base[d])
				}
			}
			SUBQ(U8(g), rows)
			JMP(LabelRef(top))
			Label(next)
		}
		w.ret()
	})
}

// wideRows is how many rows colsElementwise's wide form takes at a time when it streams
// (AVX-512).
const wideRows = 4

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
		"func(y, x, center, scale, shift []float32, width, samples, stride, prefetch, stream int)",
		[]string{"y", "x"}, 1, []string{"center", "scale", "shift"}, affine)
	w.shortRowsElementwise(": normRows for short runs, a group of samples at a time.", "normShortRows",
		"func(y, x, center, scale, shift []float32, width, samples, stride, prefetch, group int)",
		[]string{"y", "x"}, 1, []string{"center", "scale", "shift"}, affine)
	w.colsElementwise(": y = (x - center[i])*scale[i] + shift[i] over rows of len(center) values.", "normCols",
		"func(y, x, center, scale, shift []float32, rows, stride, prefetch, stream int)",
		[]string{"y", "x"}, 1, []string{"center", "scale", "shift"}, affine)
}

// scaleShift is y = x*scale + shift: normalize with the center folded into the shift,
// one FMA and two parameters a vector.
func scaleShift(in, p []VecVirtual) []VecVirtual {
	x, scale, shift := in[0], p[0], p[1]
	VFMADD213PS(shift, scale, x)
	return []VecVirtual{x}
}

func (w *isa) scale() {
	w.rowsElementwise(": y = x*scale[i] + shift[i] over runs of width values.", "scaleRows",
		"func(y, x, scale, shift []float32, width, samples, stride, prefetch, stream int)",
		[]string{"y", "x"}, 1, []string{"scale", "shift"}, scaleShift)
	w.shortRowsElementwise(": scaleRows for short runs, a group of samples at a time.", "scaleShortRows",
		"func(y, x, scale, shift []float32, width, samples, stride, prefetch, group int)",
		[]string{"y", "x"}, 1, []string{"scale", "shift"}, scaleShift)
	w.colsElementwise(": y = x*scale[i] + shift[i] over rows of len(scale) values.", "scaleCols",
		"func(y, x, scale, shift []float32, rows, stride, prefetch, stream int)",
		[]string{"y", "x"}, 1, []string{"scale", "shift"}, scaleShift)
}

func (w *isa) grad() {
	w.rowsElementwise(": dx = (x - center[i])*gx[i] + dy*gy[i] + g0[i] over runs of width values.", "gradRows",
		"func(dx, dy, x, center, gy, gx, g0 []float32, width, samples, stride, prefetch, stream int)",
		[]string{"dx", "dy", "x"}, 1, []string{"center", "gy", "gx", "g0"}, gradient)
	w.shortRowsElementwise(": gradRows for short runs, a group of samples at a time.", "gradShortRows",
		"func(dx, dy, x, center, gy, gx, g0 []float32, width, samples, stride, prefetch, group int)",
		[]string{"dx", "dy", "x"}, 1, []string{"center", "gy", "gx", "g0"}, gradient)
	w.colsElementwise(": dx = (x - center[i])*gx[i] + dy*gy[i] + g0[i] over rows of len(center) values.", "gradCols",
		"func(dx, dy, x, center, gy, gx, g0 []float32, rows, stride, prefetch, stream int)",
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
	w.prefetchAhead(ptrs, nil, 4*runChunk)
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

// shiftedTerms is the moments' shortStep: it adds d = x - k and d² to a and q, x the
// vector at data pointer 0, by way of -d (see negDiff): the same sums.
func (w *isa) shiftedTerms(at func(int) Mem, tail bool, k, a, q VecVirtual) {
	nd := w.negDiff(at(0), k, tail)
	VSUBPS(nd, a, a)
	VFMADD231PS(nd, nd, q)
}

// gradTerms is the reductions' shortStep: it adds dy and dy·(x - c) to a and q, dy and x
// the vectors at data pointers 0 and 1, by way of c - x (see negDiff).
func (w *isa) gradTerms(at func(int) Mem, tail bool, c, a, q VecVirtual) {
	g := w.vec()
	w.load(at(0), g, tail)
	nd := w.negDiff(at(1), c, tail)
	VADDPS(g, a, a)
	VFNMADD231PS(g, nd, q)
}

// negDiff returns k - x for the vector x at m (with tail, zero outside the tail lanes),
// x read by the subtraction itself: one instruction less per vector than a load and then
// x - k, and k - x is exactly -(x - k).
func (w *isa) negDiff(m Mem, k VecVirtual, tail bool) VecVirtual {
	nd := w.vec()
	switch {
	case !tail:
		VSUBPS(m, k, nd)
	case w.zmm:
		VSUBPS_Z(m, k, w.tail, nd)
	default:
		x := w.vec()
		w.load(m, x, true)
		w.subTail(x, k, nd)
	}
	return nd
}

// The rows moments keep, in a buffer the Go wrapper provides, the channels' shifts k as
// rowPad float32 (zero beyond the channels), then as rowPad float64 each: each run's
// Σ(x-k) and Σ(x-k)², and the running mean and M2 (copied in and out by the wrapper, so
// that the merges need no tails).
const (
	rowPad   = 256 + 16    // as in bn_amd64.go: kernelTile channels and a vector's padding
	rowsS1   = 4 * rowPad  // byte offset of the Σ(x-k)
	rowsS2   = 12 * rowPad // of the Σ(x-k)²
	rowsMean = 20 * rowPad // of the means
	rowsM2   = 28 * rowPad // of the M2s
)

func (w *isa) momentsRows() {
	w.text("momentsRows", "func(mean, m2 []float64, buf, x []float32, width, samples, stride, count, prefetch int)")
	Comment("momentsRows"+w.name+": merges each sample's runs x[i*width:][:width] of len(mean)",
		"channels into mean and m2, after count values merged before. Each run shifted by",
		"k[i] (buf's first region; float32(mean[i]) after the first sample) is summed in",
		"float32 over chunks of runChunk values and in float64 across them, then merged in",
		"float64 by Chan's formula, as in momentsCols.")
	x, width, skip, weights := w.rowsMomentsArgs()
	n := addr(Param("mean").Len())

	sample := w.label("sample")
	Label(sample)
	// The weights depend on no data: computed first, they are ready by the merge.
	w.chunkWeights(width, weights)
	ch := GP64()
	XORQ(ch, ch)
	channel := w.label("channel")
	Label(channel)
	buf := Load(Param("buf").Base(), GP64())
	k := w.vec()
	VBROADCASTSS(Mem{Base: buf, Index: ch, Scale: 4}, k)
	d1, d2 := w.vec(), w.vec()
	w.runSums(width, []Register{x}, d1, d2, func(at func(int) Mem, _ int, tail bool, a, q VecVirtual) {
		w.shiftedTerms(at, tail, k, a, q)
	})
	VMOVSD(d1.AsX(), Mem{Base: buf, Index: ch, Scale: 8, Disp: rowsS1})
	VMOVSD(d2.AsX(), Mem{Base: buf, Index: ch, Scale: 8, Disp: rowsS2})
	INCQ(ch)
	CMPQ(ch, n)
	JB(LabelRef(channel))

	w.mergeRowSums(n, weights)
	ADDQ(width, addr(Param("count")))
	ADDQ(skip, x)
	DECQ(addr(Param("samples")))
	JNZ(LabelRef(sample))
	VZEROUPPER()
	RET()
}

// A shortStep emits the work on one vector of a short run, as a sumStep does, given the
// channel's broadcast parameter c.
type shortStep func(at func(p int) Mem, tail bool, c, a, q VecVirtual)

// shortPrefetch is how many bytes at the prefetch distance the short-run forms prefetch
// per run: runs of up to 128 values.
const shortPrefetch = 256

// reduceGroupSums emits the reductions' sums over a group of m samples, walked channel
// by channel (groupSumsByChannel) or, when the argument bychannel is 0, sample by sample
// (groupSumsBySample, its accumulators in the buffer buf); total is as in
// groupSumsByChannel.
func (w *isa) reduceGroupSums(ptrs []Register, m, width Register, n Mem,
	param func(ch Register) VecVirtual, step shortStep, total func(ch Register, r int, v VecVirtual)) {
	bySample, summed := w.label("bysample"), w.label("summed")
	CMPQ(addr(Param("bychannel")), U8(0))
	JE(LabelRef(bySample))
	w.groupSumsByChannel(ptrs, m, width, n, param, step, total)
	JMP(LabelRef(summed))
	Label(bySample)
	skip, t := Load(Param("stride"), GP64()), GP64()
	MOVQ(n, t)
	IMULQ(width, t)
	SUBQ(t, skip)
	SHLQ(U8(2), skip)
	a := Load(Param("buf").Base(), GP64())
	w.groupSumsBySample(ptrs, m, width, skip, a, n, param, step)
	w.groupTotals(a, n, total)
	Label(summed)
}

// groupSumsBySample emits the short-run forms' float32 sums over the m samples of a group
// (m a register) sample by sample: for each sample and each of the n channels, the run of
// width values at the data pointers (advanced past the group) summed by step into the
// channel's two vectors at acc, which it clears first. param(ch) loads channel ch's
// broadcast parameter. groupTotals then sums the vectors across lanes.
func (w *isa) groupSumsBySample(ptrs []Register, m, width, skip, acc Register, n Mem,
	param func(ch Register) VecVirtual, step shortStep) {
	a, cnt := GP64(), GP64()
	z := w.vec()
	w.zero(z)
	MOVQ(acc, a)
	MOVQ(n, cnt)
	clearLoop := w.label("clear")
	Label(clearLoop)
	VMOVUPS(z, Mem{Base: a})
	VMOVUPS(z, Mem{Base: a, Disp: w.size()})
	ADDQ(U32(2*w.size()), a)
	DECQ(cnt)
	JNZ(LabelRef(clearLoop))

	j := GP64()
	MOVQ(m, j)
	sample := w.label("sample")
	Label(sample)
	ch := GP64()
	XORQ(ch, ch)
	MOVQ(acc, a)
	channel := w.label("channel")
	Label(channel)
	w.prefetchAhead(ptrs, nil, shortPrefetch)
	c := param(ch)
	s, q := w.vec(), w.vec()
	VMOVUPS(Mem{Base: a}, s)
	VMOVUPS(Mem{Base: a, Disp: w.size()}, q)
	i := w.loop(width, 1, func(i Register, _ int, tail bool) {
		step(func(p int) Mem { return at(ptrs[p], i, 0) }, tail, c, s, q)
	})
	for _, p := range ptrs {
		ADDQ(i, p)
	}
	VMOVUPS(s, Mem{Base: a})
	VMOVUPS(q, Mem{Base: a, Disp: w.size()})
	ADDQ(U32(2*w.size()), a)
	INCQ(ch)
	CMPQ(ch, n)
	JB(LabelRef(channel))
	for _, p := range ptrs {
		ADDQ(skip, p)
	}
	DECQ(j)
	JNZ(LabelRef(sample))
}

// groupTotals emits, for each of the n channels, the sums of its two vectors at acc
// across lanes in float64, passed to total(ch, r, v) for r = 0, 1 in v's low lane.
func (w *isa) groupTotals(acc Register, n Mem, total func(ch Register, r int, v VecVirtual)) {
	ch, a := GP64(), GP64()
	XORQ(ch, ch)
	MOVQ(acc, a)
	lanes := w.label("lanes")
	Label(lanes)
	for r := range 2 {
		v := w.vec()
		VMOVUPS(Mem{Base: a, Disp: r * w.size()}, v)
		lo, hi := w.widen(v, 0), w.widen(v, 1)
		VADDPD(hi, lo, lo)
		w.hsumPD(lo)
		total(ch, r, lo)
	}
	ADDQ(U32(2*w.size()), a)
	INCQ(ch)
	CMPQ(ch, n)
	JB(LabelRef(lanes))
}

// groupSumsByChannel emits the short-run forms' sums over the m samples of a group (m a
// register), channel by channel: channel ch's m runs of width values, at the data pointers plus
// ch*width values and stride bytes apart, summed by step in float32 over four pairs of
// vectors, then across lanes in float64 and passed to total(ch, r, v) for r = 0, 1 in v's
// low lane. param(ch) loads the channel's broadcast parameter. The pointers advance to
// the next group. Keeping a channel's sums in registers across its samples, rather than
// in memory across the channels of each sample, leaves each run no loads or stores but
// its data. Runs of at most unrolledRun values take a channel loop of their own for
// each count of vectors (byRun); longer runs, runsBySample.
func (w *isa) groupSumsByChannel(ptrs []Register, m, width Register, n Mem,
	param func(ch Register) VecVirtual, step shortStep, total func(ch Register, r int, v VecVirtual)) {
	stride := w.strideBytes()
	run := GP64()
	MOVQ(width, run)
	SHLQ(U8(2), run)
	ch := GP64()
	grouped := w.label("grouped")
	// channels emits the loop over the channels, walk summing one channel's runs.
	channels := func(walk func(c VecVirtual, s, q [4]VecVirtual)) {
		XORQ(ch, ch)
		channel := w.label("channel")
		Label(channel)
		c := param(ch)
		var s, q [4]VecVirtual
		for u := range 4 {
			s[u], q[u] = w.vec(), w.vec()
			w.zero(s[u])
			w.zero(q[u])
		}
		walk(c, s, q)
		for _, a := range [][4]VecVirtual{s, q} {
			VADDPS(a[1], a[0], a[0])
			VADDPS(a[3], a[2], a[2])
			VADDPS(a[2], a[0], a[0])
		}
		for r, v := range []VecVirtual{s[0], q[0]} {
			lo, hi := w.widen(v, 0), w.widen(v, 1)
			VADDPD(hi, lo, lo)
			w.hsumPD(lo)
			total(ch, r, lo)
		}
		for _, p := range ptrs {
			ADDQ(run, p)
		}
		INCQ(ch)
		CMPQ(ch, n)
		JB(LabelRef(channel))
		JMP(LabelRef(grouped))
	}
	// The run's vector count picks its loop: nv vectors, the last partial or not, each
	// twice: without prefetches and with them in its straight-line code (see byRun),
	// chosen by the prefetch distance. The AVX2 reductions, with two data pointers,
	// have no registers left for the prefetch addresses and keep prefetchGroup's loop.
	prefetchInRuns := len(ptrs) == 1 || w.zmm
	type variant struct {
		label          string
		nv             int
		tail, prefetch bool
	}
	var variants []variant
	dispatch := func(prefetch bool) {
		for nv := 1; nv*w.lanes <= unrolledRun; nv++ {
			var l [2]string
			for t, tail := range []bool{false, true} {
				l[t] = w.label(fmt.Sprintf("run%d_%v_%v", nv, tail, prefetch))
				variants = append(variants, variant{l[t], nv, tail, prefetch})
			}
			CMPQ(run, U32(nv*w.size()))
			JB(LabelRef(l[1]))
			JEQ(LabelRef(l[0]))
		}
	}
	if prefetchInRuns {
		unprefetched, long := w.label("unprefetched"), w.label("long")
		CMPQ(w.far, U8(0))
		JE(LabelRef(unprefetched))
		dispatch(true)
		JMP(LabelRef(long))
		Label(unprefetched)
		dispatch(false)
		Label(long)
	} else {
		dispatch(false)
	}
	channels(func(c VecVirtual, s, q [4]VecVirtual) {
		w.prefetchGroup(ptrs, m, stride)
		w.runsBySample(ptrs, m, stride, run, c, step, s, q)
	})
	for _, v := range variants {
		Label(v.label)
		channels(func(c VecVirtual, s, q [4]VecVirtual) {
			if !prefetchInRuns {
				w.prefetchGroup(ptrs, m, stride)
			}
			w.byRun(ptrs, m, stride, v.nv, v.tail, v.prefetch, c, step, s, q)
		})
	}
	Label(grouped)
	w.nextGroup(ptrs, m, stride, run, ch)
}

// nextGroup advances the data pointers from the end of the last of ch channels' runs of
// run bytes in a group's first sample to the next group's first: by m*stride - ch*run
// bytes. It overwrites ch.
func (w *isa) nextGroup(ptrs []Register, m, stride, run, ch Register) {
	span := GP64()
	MOVQ(m, span)
	IMULQ(stride, span)
	IMULQ(run, ch)
	SUBQ(ch, span)
	for _, p := range ptrs {
		ADDQ(span, p)
	}
}

// Runs of at most unrolledRun values groupSumsByChannel takes in straight-line code, with
// a channel loop for each count of vectors (byRun), chosen once a group; longer runs, in
// a loop over each run's vectors (runsBySample). The loops that had walked short runs
// (byPosition for the moments' runs of up to 64 values, runsBySample for the
// reductions' runs longer than a vector) cost more instructions than the data: on runs
// of 49 values, about 70 of the 170 a channel took in a group of five samples.
// Straight-line, four processes alternated (2 MiB pages), medians × copy, AVX-512:
// Moments on NCHW 8×512×7×7 0.93 → 0.74, 64×256×5×5 0.88 → 0.73, 32×512×7×7 0.77 →
// 0.66; the reduction on 8×512×7×7 1.78 → 1.41, 128×64 with S = 17 2.26 → 1.85. AVX2:
// Moments on 16×256×8×8 0.68 → 0.50, 64×256×5×5 0.91 → 0.76.
const unrolledRun = 64

// A vectorStep emits the work on one vector of runs: at(p) is its address in data
// pointer p, h the parity of its sample in the group and u its index among the vectors
// of one step (in byRun, its place in the run); with tail, it is the run's last, partial
// vector.
type vectorStep func(at func(p int) Mem, h, u int, tail bool)

// byPosition emits f for every vector of the group's m runs of run bytes at the data
// pointers, stride bytes apart, taking each vector position down the samples, two
// positions and two samples at a time: its loops step once per pair of vectors, where a
// loop over each run's few vectors costs more than the vectors.
func (w *isa) byPosition(ptrs []Register, m, stride, run Register, f vectorStep) {
	full, v, t := GP64(), GP64(), GP64()
	MOVQ(run, full)
	ANDQ(I32(-w.size()), full)
	XORQ(v, v)
	pairs, single, tail, done := w.label("pairs"), w.label("single"), w.label("tail"), w.label("positionsdone")
	Label(pairs)
	LEAQ(Mem{Base: v, Disp: 2 * w.size()}, t)
	CMPQ(t, full)
	JA(LabelRef(single))
	w.downSamples(ptrs, v, m, stride, 2, false, nil, f)
	MOVQ(t, v)
	JMP(LabelRef(pairs))
	Label(single)
	CMPQ(v, full)
	JAE(LabelRef(tail))
	w.downSamples(ptrs, v, m, stride, 1, false, nil, f)
	ADDQ(U32(w.size()), v)
	Label(tail)
	CMPQ(v, run)
	JAE(LabelRef(done))
	w.downSamples(ptrs, v, m, stride, 1, true, nil, f)
	Label(done)
}

// byRun emits the sums of groupSumsByChannel for runs of nv vectors, the last one
// partial when tail: each run in straight-line code, down the samples two at a time,
// even samples' vectors alternately into accumulator pairs 0 and 1, odd ones' into 2 and
// 3. With prefetch, each run's prefetches at the distance w.far are part of that code:
// a line for each 64 bytes of its vectors, which with the next channel's run right after
// it covers every line of the run. (prefetchGroup's loop had cost a channel of five
// 49-value runs about 45 instructions.)
func (w *isa) byRun(ptrs []Register, m, stride Register, nv int, tail, prefetch bool, c VecVirtual, step shortStep, s, q [4]VecVirtual) {
	var each func(off Register)
	if prefetch {
		ahead := make([]Register, len(ptrs))
		for i, p := range ptrs {
			ahead[i] = GP64()
			MOVQ(w.far, ahead[i])
			ADDQ(p, ahead[i])
		}
		each = func(off Register) {
			for _, a := range ahead {
				for l := 0; l < nv*w.size(); l += 64 {
					PREFETCHT0(Mem{Base: a, Index: off, Scale: 1, Disp: l})
				}
			}
		}
	}
	o := GP64()
	XORQ(o, o)
	w.downSamples(ptrs, o, m, stride, nv, tail, each, func(at func(p int) Mem, h, u int, tail bool) {
		step(at, tail, c, s[2*h+u%2], q[2*h+u%2])
	})
}

// runsBySample emits the sums of groupSumsByChannel run by run: even samples' vectors
// alternately into accumulator pairs 0 and 1, odd samples' into 2 and 3.
func (w *isa) runsBySample(ptrs []Register, m, stride, run Register, c VecVirtual, step shortStep, s, q [4]VecVirtual) {
	o, j := GP64(), GP64()
	XORQ(o, o)
	MOVQ(m, j)
	sample, done := w.label("sample"), w.label("samplesdone")
	Label(sample)
	for h := range 2 {
		w.loopFrom(o, run, 2, func(i Register, nv int, tail bool) {
			for u := range nv {
				step(func(p int) Mem { return at(ptrs[p], i, u*w.size()) }, tail, c, s[2*h+u], q[2*h+u])
			}
		})
		ADDQ(stride, o)
		DECQ(j)
		if h == 0 {
			JZ(LabelRef(done))
		}
	}
	JNZ(LabelRef(sample))
	Label(done)
}

// prefetchGroup emits the prefetch, at the distance w.far (none when it is zero), of
// the runs at the data pointers in each of a group's m samples, stride bytes apart.
func (w *isa) prefetchGroup(ptrs []Register, m, stride Register) {
	skip, loop := w.label("noprefetch"), w.label("prefetch")
	far := GP64()
	MOVQ(w.far, far)
	TESTQ(far, far)
	JZ(LabelRef(skip))
	o, j := GP64(), GP64()
	XORQ(o, o)
	MOVQ(m, j)
	Label(loop)
	prefetchAt(far, ptrs, o, shortPrefetch)
	ADDQ(stride, o)
	DECQ(j)
	JNZ(LabelRef(loop))
	Label(skip)
}

// downSamples emits f for nv vectors at byte offset v of the runs at the data pointers,
// down the m samples of a group stride bytes apart; with tail, the last one is partial.
// each, unless nil, emits what comes before a sample's vectors at byte offset off.
func (w *isa) downSamples(ptrs []Register, v, m, stride Register, nv int, tail bool, each func(off Register), f vectorStep) {
	o, o2, j := GP64(), GP64(), GP64()
	MOVQ(v, o)
	LEAQ(Mem{Base: o, Index: stride, Scale: 1}, o2)
	MOVQ(m, j)
	loop, last, done := w.label("down"), w.label("downlast"), w.label("downdone")
	body := func(h int, off Register) {
		if each != nil {
			each(off)
		}
		for u := range nv {
			f(func(p int) Mem { return Mem{Base: ptrs[p], Index: off, Scale: 1, Disp: u * w.size()} }, h, u, tail && u == nv-1)
		}
	}
	Label(loop)
	CMPQ(j, U8(2))
	JB(LabelRef(last))
	body(0, o)
	body(1, o2)
	LEAQ(Mem{Base: o, Index: stride, Scale: 2}, o)
	LEAQ(Mem{Base: o2, Index: stride, Scale: 2}, o2)
	SUBQ(U8(2), j)
	JMP(LabelRef(loop))
	Label(last)
	TESTQ(j, j)
	JZ(LabelRef(done))
	body(0, o)
	Label(done)
}

// nextChunk emits the step past a chunk of m rows or samples: it takes m from the
// argument left, and unless none are left, sets m to the next chunk's, size at most, and
// jumps to label top.
func (w *isa) nextChunk(m Register, left string, size Op, top string) {
	SUBQ(m, addr(Param(left)))
	done := w.label("done")
	JZ(LabelRef(done))
	MOVQ(size, m)
	CMPQ(addr(Param(left)), m)
	CMOVQLT(addr(Param(left)), m)
	JMP(LabelRef(top))
	Label(done)
}

// momentsShortRows is momentsRows for runs of at most runChunk/2 values, where summing
// each run down to two numbers would cost more than reading it: each channel keeps its
// sums as two float32 vectors across a group of samples, and only a whole group (group
// samples, whose runs together are at most runChunk values; the first group first
// samples) is summed across lanes in float64 and merged.
func (w *isa) momentsShortRows() {
	w.text("momentsShortRows", "func(mean, m2 []float64, buf, x []float32, width, samples, stride, count, first, group, prefetch int)")
	Comment("momentsShortRows"+w.name+": momentsRows for short runs, summed in float32 across a",
		"group of samples before each merge.")
	x, width, _, weights := w.rowsMomentsArgs()
	n := addr(Param("mean").Len())
	m := Load(Param("first"), GP64()) // samples in this group

	group := w.label("group")
	Label(group)
	w.groupSumsByChannel([]Register{x}, m, width, n, func(ch Register) VecVirtual {
		buf, k := Load(Param("buf").Base(), GP64()), w.vec()
		VBROADCASTSS(Mem{Base: buf, Index: ch, Scale: 4}, k)
		return k
	}, w.shiftedTerms, func(ch Register, r int, v VecVirtual) {
		buf := Load(Param("buf").Base(), GP64())
		VMOVSD(v.AsX(), Mem{Base: buf, Index: ch, Scale: 8, Disp: []int{rowsS1, rowsS2}[r]})
	})
	values := GP64()
	MOVQ(m, values)
	IMULQ(width, values)
	w.chunkWeights(values, weights)
	w.mergeRowSums(n, weights)
	ADDQ(values, addr(Param("count")))
	w.nextChunk(m, "samples", addr(Param("group")), group)
	VZEROUPPER()
	RET()
}

// reduceShortRows is reduceRows for runs of at most runChunk/2 values, summed in float32
// across groups of group samples, as in momentsShortRows, before moving to float64.
func (w *isa) reduceShortRows() {
	w.text("reduceShortRows", "func(sumDy, sumDyXc []float64, buf, dy, x, center []float32, width, samples, stride, group, prefetch, bychannel int)")
	Comment("reduceShortRows"+w.name+": reduceRows for short runs, summed in float32 across a",
		"group of samples before each move to float64.")
	w.far = addr(Param("prefetch"))
	dy := Load(Param("dy").Base(), GP64())
	x := Load(Param("x").Base(), GP64())
	width := Load(Param("width"), GP64())
	n := addr(Param("center").Len())
	w.setTail(width)
	m := Load(Param("group"), GP64())
	CMPQ(addr(Param("samples")), m)
	CMOVQLT(addr(Param("samples")), m)

	group := w.label("group")
	Label(group)
	w.reduceGroupSums([]Register{dy, x}, m, width, n, func(ch Register) VecVirtual {
		cp, c := Load(Param("center").Base(), GP64()), w.vec()
		VBROADCASTSS(Mem{Base: cp, Index: ch, Scale: 4}, c)
		return c
	}, w.gradTerms, func(ch Register, r int, v VecVirtual) {
		b := Load(Param([]string{"sumDy", "sumDyXc"}[r]).Base(), GP64())
		sum := Mem{Base: b, Index: ch, Scale: 8}
		VADDSD(sum, v.AsX(), v.AsX())
		VMOVSD(v.AsX(), sum)
	})
	w.nextChunk(m, "samples", addr(Param("group")), group)
	VZEROUPPER()
	RET()
}

// strideBytes returns the stride argument in bytes.
func (w *isa) strideBytes() Register {
	s := Load(Param("stride"), GP64())
	SHLQ(U8(2), s)
	return s
}

// rowsMomentsArgs loads what both rows moments forms start from: the x pointer, the run
// width, the bytes from a sample's last run to the next sample's first, and room for the
// merge weights; it sets the prefetch distance and the tail mask.
func (w *isa) rowsMomentsArgs() (x, width, skip Register, weights Mem) {
	w.far = addr(Param("prefetch"))
	x = Load(Param("x").Base(), GP64())
	width = Load(Param("width"), GP64())
	skip = w.sampleSkip(width, Param("mean").Len())
	w.setTail(width)
	return x, width, skip, AllocLocal(24)
}

// mergeRowSums emits the merge of the buffer's S1 and S2 into its means and M2s, over the
// n channels padded to whole vectors.
func (w *isa) mergeRowSums(n Mem, weights Mem) {
	buf := Load(Param("buf").Base(), GP64())
	padded := GP64()
	MOVQ(n, padded)
	ADDQ(U8(w.lanes-1), padded)
	ANDQ(I8(int8(-w.lanes)), padded)
	mean, m2 := GP64(), GP64()
	LEAQ(Mem{Base: buf, Disp: rowsMean}, mean)
	LEAQ(Mem{Base: buf, Disp: rowsM2}, m2)
	w.momentsMerge(padded, mean, m2, weights, func(i Register, h int) (s1, s2 VecVirtual) {
		s1, s2 = w.vec(), w.vec()
		VMOVUPD(Mem{Base: buf, Index: i, Scale: 2, Disp: rowsS1 + h*w.size()}, s1)
		VMOVUPD(Mem{Base: buf, Index: i, Scale: 2, Disp: rowsS2 + h*w.size()}, s2)
		return s1, s2
	})
}

// reduceRows is emitted for AVX2 only, and the AVX-512 set calls it too: reading two
// tensors, the ZMM loop was never faster, and on runs that are not whole cache lines,
// where every 64-byte load spans two lines, it was slower by a fifth to a half (see
// reduceRowsAVX2 in bn_amd64.go).
func (w *isa) reduceRows() {
	w.text("reduceRows", "func(sumDy, sumDyXc []float64, dy, x, center []float32, width, samples, stride, prefetch int)")
	Comment("reduceRows"+w.name+": for each sample and channel i, adds Σdy and Σdy·(x-center[i])",
		"over the run of width values to sumDy[i] and sumDyXc[i], summed in float32 over",
		"chunks of runChunk values and in float64 across them.")
	w.far = addr(Param("prefetch"))
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
		w.gradTerms(at, tail, c, a, q)
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

// The cols reductions keep their float32 sums in a buffer the Go wrapper provides, as
// three regions of colsPad float32: the per-channel shift (k or center, zero beyond the
// channels), then Σ and Σ² (or Σdy and Σdy·(x-c)). The padding lets every vector, the
// tail's included, use plain loads and stores there. Walking the rows in order, all the
// channels of a row before the next rows, reads the tensor as one sequential stream
// however wide it is; groups of colGroup rows are summed in registers before they are
// added to the buffer.
const (
	// colsPad is as in bn_amd64.go, reduceTile channels and a vector's padding;
	// TestColsBufferLayout fails if the two differ.
	colsPad  = 1024 + 16
	colGroup = 4
)

// sums is the byte offset in the cols sums' buffer of the float32 sums j: 0 for Σ (or
// Σdy), 1 for Σ² (or Σdy·(x-c)).
func (w *isa) sums(j int) int {
	return 4 * colsPad * (j + 1)
}

// terms emits row j's term d of one vector of channels and the factor e that multiplies
// it in the second sum: at(p) is the vector's address in data pointer p, c the channels'
// shift, and with tail the vector is the channels' last, partial one.
type terms func(at func(p int) Mem, c VecVirtual, tail bool) (d, e VecVirtual)

// groupRow returns the address disp bytes into row j (0 to 3) of a group of colGroup
// rows starting at base, stride bytes apart, s3 being 3*stride.
func groupRow(base, stride, s3 Register, j, disp int) Mem {
	switch j {
	case 0:
		return Mem{Base: base, Disp: disp}
	case 1, 2:
		return Mem{Base: base, Index: stride, Scale: uint8(j), Disp: disp}
	default:
		return Mem{Base: base, Index: s3, Scale: 1, Disp: disp}
	}
}

// prefetchGroupRows emits the prefetch, at the distance w.far (none when it is zero), of
// the first bytes of each of a group's colGroup rows at the row pointers ptrs: a line for
// each 64 bytes.
func (w *isa) prefetchGroupRows(ptrs []Register, stride, s3 Register, bytes int) {
	skip := w.label("noprefetch")
	CMPQ(w.far, U8(0))
	JEQ(LabelRef(skip))
	t := GP64()
	for _, p := range ptrs {
		MOVQ(w.far, t)
		ADDQ(p, t)
		for j := range colGroup {
			for d := 0; d < bytes; d += 64 {
				PREFETCHT0(groupRow(t, stride, s3, j, d))
			}
		}
	}
	Label(skip)
}

// colChunk emits the float32 sums of one chunk of m rows of n channels into the buffer
// at buf (zeroed first). The row pointers ptrs end past the chunk. Every channel, the
// tail's too, is summed in the same order: groups of colGroup rows, then single rows.
func (w *isa) colChunk(n Mem, m, stride Register, ptrs []Register, buf Mem, f terms) {
	done := w.label("chunkdone")
	if w.zmm {
		wide := w.label("wide")
		CMPQ(n, U8(narrowVectors*w.lanes))
		JA(LabelRef(wide))
		w.colChunkNarrow(n, m, stride, ptrs, buf, f)
		JMP(LabelRef(done))
		Label(wide)
	}
	w.colChunkWide(n, m, stride, ptrs, buf, f)
	Label(done)
}

// narrowVectors is how many vectors of channels colChunkNarrow takes: five, the most
// whose sums it keeps in registers (six run out), where four had left 72 and 80
// channels to the wide form: NHWC 32×80×56×56 Moments 0.80 → 0.59× copy, reduction
// 1.54 → 1.14×; NC 256×80 Moments 1.28 → 0.83×.
const narrowVectors = 5

// colChunkNarrow is colChunk for at most narrowVectors vectors of channels (AVX-512):
// the loop over vectors unrolled and the sums kept in registers until the chunk ends.
// Each load instruction then steps down the rows at one stride, which the hardware's
// stride prefetcher follows; in the loop over vectors, it steps along a row and then
// jumps, and the 64 channels of NHWC 32×64×56×56 were read at 0.65× copy against 0.45×
// for the same bytes as NCHW runs. The sums are formed in the same order as
// colChunkWide's, so the bits do not depend on which form a tile takes.
//
// There is one loop for each count of vectors, whole or with a partial last one, so
// that only a partial vector loads under a mask: masked loads do not train the hardware
// prefetchers. With all four vectors of NHWC 32×64×56×56 masked and nothing prefetched,
// Moments took 1.77× copy and the reduction 2.5×; unmasked, 0.59× and 1.19×.
func (w *isa) colChunkNarrow(n Mem, m, stride Register, ptrs []Register, buf Mem, f terms) {
	done := w.label("narrowdone")
	var partial, whole [narrowVectors + 1]string
	for nv := 1; nv <= narrowVectors; nv++ {
		partial[nv], whole[nv] = w.label("narrowpartial"), w.label("narrowwhole")
		CMPQ(n, U8(nv*w.lanes))
		JB(LabelRef(partial[nv]))
		JE(LabelRef(whole[nv]))
	}
	for nv := 1; nv <= narrowVectors; nv++ {
		Label(partial[nv])
		k, b := K(), GP32()
		tbl, t := GP64(), GP64()
		LEAQ(kmaskTable, tbl)
		MOVQ(n, t)
		SUBQ(U8((nv-1)*w.lanes), t)
		MOVWLZX(Mem{Base: tbl, Index: t, Scale: 2}, b)
		KMOVW(b, k)
		w.narrowRows(nv, k, m, stride, ptrs, buf, f)
		JMP(LabelRef(done))
		Label(whole[nv])
		w.narrowRows(nv, nil, m, stride, ptrs, buf, f)
		if nv < narrowVectors {
			JMP(LabelRef(done))
		}
	}
	Label(done)
}

// narrowRows emits colChunkNarrow's loop for nv vectors of channels, the last under the
// mask last unless it is nil.
func (w *isa) narrowRows(nv int, last Op, m, stride Register, ptrs []Register, buf Mem, f terms) {
	acc := make([][2]VecVirtual, nv)
	for v := range acc {
		for j := range acc[v] {
			acc[v][j] = w.vec()
			w.zero(acc[v][j])
		}
	}
	b := GP64()
	MOVQ(buf, b)
	r, s3 := GP64(), GP64()
	MOVQ(m, r)
	LEAQ(Mem{Base: stride, Index: stride, Scale: 2}, s3)
	vs := make([]colVector, nv)
	for v := range vs {
		vs[v] = colVector{func(p, j int) Mem { return groupRow(ptrs[p], stride, s3, j, v*w.size()) },
			Mem{Base: b, Disp: v * w.size()}, nil}
	}
	vs[nv-1].tail = last
	w.far = addr(Param("prefetch"))
	for _, g := range []int{colGroup, 1} {
		top, next := w.label("narrow"), w.label("narrowrows")
		Label(top)
		CMPQ(r, U8(g))
		JLT(LabelRef(next))
		if g == colGroup {
			w.prefetchGroupRows(ptrs, stride, s3, nv*w.size())
		}
		for v, sq := range w.sumRows(vs, g, f) {
			VADDPS(sq[0], acc[v][0], acc[v][0])
			VADDPS(sq[1], acc[v][1], acc[v][1])
		}
		for _, p := range ptrs {
			LEAQ(Mem{Base: p, Index: stride, Scale: uint8(g)}, p)
		}
		SUBQ(U8(g), r)
		JMP(LabelRef(top))
		Label(next)
	}
	for v := range acc {
		VMOVUPS(acc[v][0], Mem{Base: b, Disp: w.sums(0) + v*w.size()})
		VMOVUPS(acc[v][1], Mem{Base: b, Disp: w.sums(1) + v*w.size()})
	}
}

// colChunkWide is colChunk for any number of channels: a loop over their vectors for
// each group of rows, the sums kept in the buffer.
func (w *isa) colChunkWide(n Mem, m, stride Register, ptrs []Register, buf Mem, f terms) {
	a, cnt := GP64(), GP64()
	z := w.vec()
	w.zero(z)
	MOVQ(buf, a)
	MOVQ(n, cnt)
	ADDQ(U8(w.lanes-1), cnt)
	SHRQ(U8(w.shift()), cnt)
	clearLoop := w.label("clear")
	Label(clearLoop)
	VMOVUPS(z, Mem{Base: a, Disp: w.sums(0)})
	VMOVUPS(z, Mem{Base: a, Disp: w.sums(1)})
	ADDQ(U8(w.size()), a)
	DECQ(cnt)
	JNZ(LabelRef(clearLoop))

	r, s3 := GP64(), GP64()
	MOVQ(m, r)
	LEAQ(Mem{Base: stride, Index: stride, Scale: 2}, s3)
	// Prefetch ahead (the prefetch argument, in bytes): the interleaved walk of 4 rows
	// defeats the stream prefetchers.
	w.far = addr(Param("prefetch"))
	for _, g := range []int{colGroup, 1} {
		top, next := w.label("rows"), w.label("rowsdone")
		Label(top)
		CMPQ(r, U8(g))
		JLT(LabelRef(next))
		w.colVectors(n, ptrs, buf, stride, s3, g, f)
		for _, p := range ptrs {
			LEAQ(Mem{Base: p, Index: stride, Scale: uint8(g)}, p)
		}
		SUBQ(U8(g), r)
		JMP(LabelRef(top))
		Label(next)
	}
}

// colVectors emits the loop over the vectors of n channels, the tail's last, for rows
// rows at the row pointers ptrs, adding the sums to the buffer at buf. Each step of its
// loop takes one 64-byte line of each row, one AVX-512 vector or two AVX2 ones; an odd
// AVX2 vector and the tail follow. (AVX2 one vector a step took Moments on NC 256×1024
// and NHWC 32×512×7×7 0.76× and 0.77× copy, a line a step 0.68× and 0.69×; AVX-512 two
// lines a step made the second 4% slower.)
func (w *isa) colVectors(n Mem, ptrs []Register, buf Mem, stride, s3 Register, rows int, f terms) {
	cnt, a := GP64(), GP64()
	lines, odd, tail, done := w.label("vectors"), w.label("vectorsodd"), w.label("vectorstail"), w.label("vectorsdone")
	MOVQ(buf, a)
	q := make([]Register, len(ptrs))
	for j, p := range ptrs {
		q[j] = GP64()
		MOVQ(p, q[j])
	}
	at := func(disp int) func(p, j int) Mem {
		return func(p, j int) Mem { return groupRow(q[p], stride, s3, j, disp) }
	}
	// step emits the sums of nv vectors (and the prefetch of their bytes) and advances
	// the pointers past them.
	step := func(nv int) {
		if rows == colGroup {
			w.prefetchGroupRows(q, stride, s3, nv*w.size())
		}
		vs := make([]colVector, nv)
		for v := range vs {
			vs[v] = colVector{at(v * w.size()), Mem{Base: a, Disp: v * w.size()}, nil}
		}
		for v, sq := range w.sumRows(vs, rows, f) {
			w.addTo(a, v*w.size(), sq[0], sq[1])
		}
		for _, p := range append(q, a) {
			ADDQ(U8(nv*w.size()), p)
		}
	}
	line := 64 / w.size() // vectors a step
	MOVQ(n, cnt)
	SHRQ(U8(w.shift()+bits.TrailingZeros(uint(line))), cnt)
	JZ(LabelRef(odd))
	Label(lines)
	step(line)
	DECQ(cnt)
	JNZ(LabelRef(lines))
	Label(odd)
	if line == 2 {
		TESTQ(U32(w.lanes), n)
		JZ(LabelRef(tail))
		step(1)
	}
	Label(tail)
	TESTQ(U32(w.lanes-1), n)
	JZ(LabelRef(done))
	sq := w.sumRows([]colVector{{at(0), Mem{Base: a}, w.tail}}, rows, f)[0]
	w.addTo(a, 0, sq[0], sq[1])
	Label(done)
}

// addTo adds s and q to the buffer's sums at a plus disp bytes.
func (w *isa) addTo(a Register, disp int, s, q VecVirtual) {
	for j, v := range []VecVirtual{s, q} {
		m := Mem{Base: a, Disp: disp + w.sums(j)}
		VADDPS(m, v, v)
		VMOVUPS(v, m)
	}
}

// A colVector is one vector of channels that sumRows sums down rows: row(p, j) is its
// address in row j of data pointer p, shift that of the channels' shift, and tail, when
// not nil, the mask of its lanes (the channels' last, partial vector).
type colVector struct {
	row   func(p, j int) Mem
	shift Mem
	tail  Op
}

// sumRows returns, for each of the vectors vs, the sums over rows rows of f's terms d
// and of their products d·e, each added row after row. It emits the rows in order, every
// vector of a row before the next row, so that the loads walk the tensor in address
// order, which the hardware prefetchers follow: walked vector by vector, down the rows
// and back up, NHWC 32×64×56×56 took Moments 0.79× copy and the reduction 1.30×; in
// address order, 0.59× and 1.16×. The order of the additions is the same either way.
func (w *isa) sumRows(vs []colVector, rows int, f terms) [][2]VecVirtual {
	tail := w.tail
	c := make([]VecVirtual, len(vs))
	for v, cv := range vs {
		c[v] = w.vec()
		VMOVUPS(cv.shift, c[v])
	}
	sums := make([][2]VecVirtual, len(vs))
	for j := range rows {
		for v, cv := range vs {
			if cv.tail != nil {
				w.tail = cv.tail
			}
			d, e := f(func(p int) Mem { return cv.row(p, j) }, c[v], cv.tail != nil)
			s, q := &sums[v][0], &sums[v][1]
			if j == 0 {
				*s, *q = w.vec(), w.vec()
				VMOVAPS(d, *s)
				VMULPS(e, d, *q)
				continue
			}
			VADDPS(d, *s, *s)
			VFMADD231PS(e, d, *q)
		}
	}
	w.tail = tail
	return sums
}

func (w *isa) momentsCols() {
	w.text("momentsCols", "func(mean, m2 []float64, buf, x []float32, rows, stride, count, first, prefetch int)")
	Comment("momentsCols"+w.name+": merges rows rows of len(mean) channels into mean and m2,",
		"after count rows merged before, in chunks of first rows then momentsChunk: each chunk's",
		"values shifted by k[i] (buf's first region; float32(mean[i]) after the first chunk)",
		"are summed in float32, then merged in float64 by Chan's formula: mean += δ·wNew",
		"and m2 += M2 + δ²·wCross, with δ the chunk's mean less mean and M2 its sum of",
		"squared deviations.")
	x := Load(Param("x").Base(), GP64())
	n := addr(Param("mean").Len())
	stride := Load(Param("stride"), GP64())
	SHLQ(U8(2), stride)
	m := Load(Param("first"), GP64())
	w.setTail(n)
	// The chunk's weights: 1/fn, fn/(fc+fn) and fc·fn/(fc+fn).
	weights := AllocLocal(24)

	chunk := w.label("chunk")
	Label(chunk)
	// The weights depend on no data: computed first, they are ready by the merge.
	w.chunkWeights(m, weights)
	w.colChunk(n, m, stride, []Register{x}, addr(Param("buf").Base()),
		func(at func(p int) Mem, k VecVirtual, tail bool) (d, e VecVirtual) {
			d = w.vec()
			w.load(at(0), d, tail)
			VSUBPS(k, d, d) // tail lanes: x and k are both 0
			return d, d
		})
	buf := Load(Param("buf").Base(), GP64())
	mean := Load(Param("mean").Base(), GP64())
	m2 := Load(Param("m2").Base(), GP64())
	w.momentsMerge(n, mean, m2, weights, func(i Register, h int) (s1, s2 VecVirtual) {
		a, b := w.vec(), w.vec()
		VMOVUPS(Mem{Base: buf, Index: i, Scale: 1, Disp: w.sums(0)}, a)
		VMOVUPS(Mem{Base: buf, Index: i, Scale: 1, Disp: w.sums(1)}, b)
		return w.widen(a, h), w.widen(b, h)
	})
	ADDQ(m, addr(Param("count")))
	w.nextChunk(m, "rows", U32(momentsChunk), chunk)
	VZEROUPPER()
	RET()
}

// chunkWeights stores at weights the merge weights of a chunk of fn values after count
// (an argument) merged before: 1/fn, fn/(fc+fn) and fc·fn/(fc+fn).
func (w *isa) chunkWeights(fnv Op, weights Mem) {
	fn, fc, t := XMM(), XMM(), XMM()
	one := GP64()
	MOVQ(U64(0x3ff0000000000000), one)
	VMOVQ(one, t)
	// The conversions merge the upper lanes of their second operand: t, which is set.
	VCVTSI2SDQ(fnv, t, fn)
	VCVTSI2SDQ(addr(Param("count")), t, fc)
	VDIVSD(fn, t, t)
	VMOVSD(t, weights)
	VADDSD(fn, fc, t)
	VDIVSD(t, fn, t)
	VMOVSD(t, weights.Offset(8))
	VMULSD(fc, t, t)
	VMOVSD(t, weights.Offset(16))
}

// momentsMerge emits the merge of a chunk's sums into the n means and M2s at mean and
// m2, and stores the next
// chunk's shifts, float32(mean), in the buffer's first region. sums(i, h) returns the
// float64 sums of half h of the channels at byte offset i (of float32 values).
func (w *isa) momentsMerge(n Op, mean, m2 Register, weights Mem, sums func(i Register, h int) (s1, s2 VecVirtual)) {
	buf := Load(Param("buf").Base(), GP64())
	w.loop(n, 1, func(i Register, _ int, tail bool) {
		mAt, qAt := Mem{Base: mean, Index: i, Scale: 2}, Mem{Base: m2, Index: i, Scale: 2}
		mv, mq := w.loadPD(mAt, tail), w.loadPD(qAt, tail)
		k := w.vec()
		VMOVUPS(Mem{Base: buf, Index: i, Scale: 1}, k)
		for h := range 2 {
			inv := w.vec()
			VBROADCASTSD(weights, inv)
			kd := w.widen(k, h)
			a, q := sums(i, h)
			t1 := w.vec()
			VMULPD(inv, a, t1) // s1/fn
			VADDPD(t1, kd, kd) // the chunk's mean, k + s1/fn
			VMULPD(t1, a, a)   // s1²/fn
			VSUBPD(a, q, q)    // its M2, s2 - s1²/fn
			t := w.vec()
			w.zero(t)
			VMAXPD(q, t, q)       // max(0, M2), or NaN when M2 is NaN
			VSUBPD(mv[h], kd, kd) // δ
			wn := w.vec()
			VBROADCASTSD(weights.Offset(8), wn)
			VFMADD231PD(wn, kd, mv[h])
			VMULPD(kd, kd, kd)
			wc := w.vec()
			VBROADCASTSD(weights.Offset(16), wc)
			VFMADD231PD(wc, kd, q) // M2 + δ²·wCross
			VADDPD(q, mq[h], mq[h])
		}
		w.storePD(mv, mAt, tail)
		w.storePD(mq, qAt, tail)
		VMOVUPS(w.narrow(mv), Mem{Base: buf, Index: i, Scale: 1}) // the next shifts
	})
}

func (w *isa) reduceCols() {
	w.text("reduceCols", "func(sumDy, sumDyXc []float64, buf, dy, x []float32, rows, stride, first, prefetch int)")
	Comment("reduceCols"+w.name+": adds Σdy and Σdy·(x-center[i]) over rows rows of len(sumDy)",
		"channels to sumDy[i] and sumDyXc[i], with center in buf's first region: summed in",
		"float32 over chunks of rows (first rows, then reduceChunk at a time) and in float64",
		"across them.")
	dy := Load(Param("dy").Base(), GP64())
	x := Load(Param("x").Base(), GP64())
	n := addr(Param("sumDy").Len())
	stride := Load(Param("stride"), GP64())
	SHLQ(U8(2), stride)
	m := Load(Param("first"), GP64())
	w.setTail(n)

	chunk := w.label("chunk")
	Label(chunk)
	w.colChunk(n, m, stride, []Register{dy, x}, addr(Param("buf").Base()), func(at func(p int) Mem, c VecVirtual, tail bool) (g, d VecVirtual) {
		g, d = w.vec(), w.vec()
		w.load(at(0), g, tail)
		w.load(at(1), d, tail)
		VSUBPS(c, d, d) // tail lanes: dy is 0, so the product is too
		return g, d
	})
	buf := Load(Param("buf").Base(), GP64())
	sumDy := Load(Param("sumDy").Base(), GP64())
	sumDyXc := Load(Param("sumDyXc").Base(), GP64())
	w.loop(n, 1, func(i Register, _ int, tail bool) {
		for j, base := range []Register{sumDy, sumDyXc} {
			s := w.vec()
			VMOVUPS(Mem{Base: buf, Index: i, Scale: 1, Disp: w.sums(j)}, s)
			at := Mem{Base: base, Index: i, Scale: 2}
			v := w.loadPD(at, tail)
			for h := range 2 {
				VADDPD(w.widen(s, h), v[h], v[h])
			}
			w.storePD(v, at, tail)
		}
	})
	w.nextChunk(m, "rows", U32(reduceChunk), chunk)
	VZEROUPPER()
	RET()
}

// momentsChunk and reduceChunk are how many rows the cols moments and reductions sum in
// float32 before moving to float64, as in kernels.go.
const (
	momentsChunk = 64
	reduceChunk  = 32
)

// invStd emits dst[i] = 1/sqrt(m2[i]·inv + eps) in float64: each channel's 1/σ from its
// M2. A sqrt and a division per channel, as vectors; the rounding of each operation is
// IEEE's, so the result is the generic kernel's to the bit.
func (w *isa) invStd() {
	w.text("invStd", "func(dst, m2 []float64, inv, eps float64)")
	Comment("invStd" + w.name + ": dst[i] = 1/sqrt(m2[i]*inv + eps), len(m2) values.")
	dst := Load(Param("dst").Base(), GP64())
	m2 := Load(Param("m2").Base(), GP64())
	n := Load(Param("m2").Len(), GP64())
	w.setTail(n)
	inv, eps, one := w.vec(), w.vec(), w.vec()
	VBROADCASTSD(addr(Param("inv")), inv)
	VBROADCASTSD(addr(Param("eps")), eps)
	t := GP64()
	MOVQ(U64(0x3ff0000000000000), t)
	VMOVQ(t, one.AsX())
	VBROADCASTSD(one.AsX(), one)
	w.loop(n, 1, func(i Register, _ int, tail bool) {
		v := w.loadPD(Mem{Base: m2, Index: i, Scale: 2}, tail)
		for h := range 2 {
			VMULPD(inv, v[h], v[h])
			VADDPD(eps, v[h], v[h])
			VSQRTPD(v[h], v[h])
			VDIVPD(v[h], one, v[h])
		}
		w.storePD(v, Mem{Base: dst, Index: i, Scale: 2}, tail)
	})
	w.ret()
}

// finite emits the test of a tile's two float64 sums: whether every a[i] + b[i] is
// finite. s - s is 0 for a finite s and NaN for a NaN or an infinity, and a NaN stays in
// a sum, so the accumulators end all zero bits exactly when every channel is finite. One
// channel at a time, in Go, the test took 0.5 µs of Moments on NC 2×1024.
func (w *isa) finite() {
	w.text("finite", "func(a, b []float64) bool")
	Comment("finite" + w.name + ": whether a[i]+b[i] is finite for each of len(a) values.")
	p := bases([]string{"a", "b"})
	a, b := p[0], p[1]
	n := Load(Param("a").Len(), GP64())
	w.setTail(n)
	acc := [2]VecVirtual{w.vec(), w.vec()}
	for _, v := range acc {
		w.zero(v)
	}
	w.loop(n, 1, func(i Register, _ int, tail bool) {
		x := w.loadPD(Mem{Base: a, Index: i, Scale: 2}, tail)
		y := w.loadPD(Mem{Base: b, Index: i, Scale: 2}, tail)
		for h := range 2 {
			VADDPD(y[h], x[h], x[h])
			VSUBPD(x[h], x[h], x[h])
			VADDPD(x[h], acc[h], acc[h])
		}
	})
	VADDPD(acc[1], acc[0], acc[0])
	if w.zmm {
		k := K()
		VPTESTMQ(acc[0], acc[0], k)
		KORTESTW(k, k)
	} else {
		VPTEST(acc[0], acc[0])
	}
	ok := GP8()
	SETEQ(ok)
	Store(ok, ReturnIndex(0))
	w.ret()
}

// fold emits each channel's center, scale and shift for normalizing with its batch mean
// (float64) and 1/σ. A channel that folds whole (see wholeLanes) gets foldWhole's
// center 0 and shift; any other center = float32(mean), scale = γ/σ and shift = β -
// (mean - center)·scale. Each operation is in float64, rounded once as IEEE's, so that
// the result is the generic kernel's to the bit. Both shifts are formed for every
// channel and blended: one channel at a time in Go, the choice took 1.9 µs of Forward
// on NC 2×1024 when the channels were mixed.
func (w *isa) fold() {
	w.text("fold", "func(center, scale, shift []float32, mean, invStd, m2 []float64, weight, bias []float32, limit float64)")
	Comment("fold" + w.name + ": center, scale and shift from mean, invStd, m2, weight and bias, len(center) values.")
	p := bases([]string{"center", "scale", "shift", "mean", "invStd", "m2", "weight", "bias"})
	center, scale, shift, mean, invStd, m2, weight, bias := p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]
	n := Load(Param("center").Len(), GP64())
	limit, zero := w.foldConstants()
	w.setTail(n)
	w.loop(n, 1, func(i Register, _ int, tail bool) {
		m, inv, gamma, beta := w.foldLoads(mean, invStd, weight, bias, i, tail)
		q := w.loadPD(Mem{Base: m2, Index: i, Scale: 2}, tail)
		var whole [2]Op
		for h := range 2 {
			whole[h] = w.wholeLanes(m[h], inv[h], q[h], limit, zero)
		}
		k := w.scales(gamma, inv)
		sc, c := w.narrow(k), w.narrow(m)
		var cz, b [2]VecVirtual
		for h := range 2 {
			d := w.widen(c, h)
			VSUBPD(d, m[h], d) // the part of the mean the center drops
			VMULPD(k[h], d, d)
			b[h] = w.widen(beta, h)
			VSUBPD(d, b[h], b[h])
			bw := w.wholeShift(sc, beta, m[h], h)
			cz[h] = w.vec()
			w.blend(whole[h], bw, b[h], b[h])
			w.blend(whole[h], zero, m[h], cz[h])
		}
		w.store(w.narrow(cz), at(center, i, 0), tail)
		w.store(sc, at(scale, i, 0), tail)
		w.store(w.narrow(b), at(shift, i, 0), tail)
	})
	w.ret()
}

// foldLoads loads a vector of channels' inputs to fold and foldWhole at byte offset i of
// the float32 slices: mean and invStd as float64 halves, weight and bias as float32.
func (w *isa) foldLoads(mean, invStd, weight, bias, i Register, tail bool) (m, inv [2]VecVirtual, gamma, beta VecVirtual) {
	m = w.loadPD(Mem{Base: mean, Index: i, Scale: 2}, tail)
	inv = w.loadPD(Mem{Base: invStd, Index: i, Scale: 2}, tail)
	gamma, beta = w.vec(), w.vec()
	w.load(at(weight, i, 0), gamma, tail)
	w.load(at(bias, i, 0), beta, tail)
	return m, inv, gamma, beta
}

// foldConstants loads fold's and foldWhole's limit and a zero.
func (w *isa) foldConstants() (limit, zero VecVirtual) {
	limit, zero = w.vec(), w.vec()
	VBROADCASTSD(addr(Param("limit")), limit)
	w.zero(zero)
	return limit, zero
}

// scales returns γ·invStd in float64 halves.
func (w *isa) scales(gamma VecVirtual, inv [2]VecVirtual) (k [2]VecVirtual) {
	for h := range 2 {
		k[h] = w.widen(gamma, h)
		VMULPD(inv[h], k[h], k[h])
	}
	return k
}

// wholeShift returns half h of β - mean·scale, with the scale sc as the kernels apply
// it (float32): the shift of a channel that folds whole.
func (w *isa) wholeShift(sc, beta, m VecVirtual, h int) VecVirtual {
	d := w.widen(sc, h)
	VMULPD(m, d, d)
	b := w.widen(beta, h)
	VSUBPD(d, b, b)
	return b
}

// wholeLanes returns the lanes of a half vector of channels that fold whole: |mean·invStd|
// at most limit (not for a NaN), and M2 not 0, since a constant channel keeps its center
// to normalize to exactly β. M2 is 0 in the lanes past a tail too, but there invStd is 0,
// which it never is with M2 = 0 (1/√eps), so tail lanes count as folding whole. AVX-512
// returns a K mask, AVX2 a vector of all-ones lanes.
func (w *isa) wholeLanes(m, inv, q, limit, zero VecVirtual) Op {
	// |mean·invStd| as max(a, 0 - a), NaN for NaN.
	a, neg := w.vec(), w.vec()
	VMULPD(inv, m, a)
	VSUBPD(a, zero, neg)
	VMAXPD(neg, a, a)
	if w.zmm {
		tailLane, varies, whole := K(), K(), K()
		VCMPPD(U8(cmpEQOQ), zero, inv, tailLane)
		VCMPPD(U8(cmpNEQUQ), zero, q, varies)
		KORW(tailLane, varies, varies)
		VCMPPD(U8(cmpLEOQ), limit, a, varies, whole)
		return whole
	}
	t := w.vec()
	VCMPPD(U8(cmpEQOQ), zero, inv, t)
	VCMPPD(U8(cmpNEQUQ), zero, q, neg)
	VORPD(t, neg, neg)
	VCMPPD(U8(cmpLEOQ), limit, a, a)
	VANDPD(neg, a, a)
	return a
}

// blend sets dst = a in the lanes of mask and b in the others.
func (w *isa) blend(mask Op, a, b, dst VecVirtual) {
	if w.zmm {
		VBLENDMPD(a, b, mask, dst)
	} else {
		VBLENDVPD(mask, a, b, dst)
	}
}

func (w *isa) foldWhole() {
	w.text("foldWhole", "func(scale, shift []float32, mean, invStd, m2 []float64, weight, bias []float32, limit float64) int")
	Comment("foldWhole"+w.name+": scale and shift from mean, invStd, weight and bias, len(scale) values,",
		"the whole mean folded into the shift. The result is nonzero when some channel does",
		"not fold whole: |mean·invStd| exceeds limit or is NaN, or m2 is 0.")
	p := bases([]string{"scale", "shift", "mean", "invStd", "m2", "weight", "bias"})
	scale, shift, mean, invStd, m2, weight, bias := p[0], p[1], p[2], p[3], p[4], p[5], p[6]
	n := Load(Param("scale").Len(), GP64())
	limit, zero := w.foldConstants()
	far := GP64()
	XORQ(far, far)
	w.setTail(n)
	w.loop(n, 1, func(i Register, _ int, tail bool) {
		m, inv, gamma, beta := w.foldLoads(mean, invStd, weight, bias, i, tail)
		q := w.loadPD(Mem{Base: m2, Index: i, Scale: 2}, tail)
		for h := range 2 {
			whole, bits := w.wholeLanes(m[h], inv[h], q[h], limit, zero), GP32()
			if w.zmm {
				KMOVW(whole, bits)
			} else {
				VMOVMSKPD(whole, bits)
			}
			XORL(U32(1<<(w.lanes/2)-1), bits) // the lanes that do not fold whole
			ORQ(bits.As64(), far)
		}
		k := w.scales(gamma, inv)
		sc := w.narrow(k)
		var b [2]VecVirtual
		for h := range 2 {
			b[h] = w.wholeShift(sc, beta, m[h], h)
		}
		w.store(sc, at(scale, i, 0), tail)
		w.store(w.narrow(b), at(shift, i, 0), tail)
	})
	Store(far, ReturnIndex(0))
	w.ret()
}

// VCMPPD's predicates: equal, not equal (true for a NaN), and less than or equal
// (false for a NaN).
const (
	cmpEQOQ  = 0x00
	cmpNEQUQ = 0x04
	cmpLEOQ  = 0x12
)
