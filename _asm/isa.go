package main

import (
	"fmt"

	"github.com/mmcloughlin/avo/ir"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/gotypes"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// An isa is one vector width. Every kernel is written once against it, so the AVX2 and
// AVX-512 sets are the same loops and cannot drift apart.
//
// AVX-512 code uses ZMM registers, AVX-512F instructions only (no VL, DQ or BW: a 256-
// or 128-bit operation on a register above 15 would need VL), and K masks for tails.
// AVX2 code uses YMM registers and VEX encodings only, and VMASKMOVPS for float32 tails
// that lie within one page; other tails move through a zeroed buffer on the stack with
// scalar copies. (Emulators such as qemu 7.2 fault on masked-off lanes of VMASKMOVPS
// that lie in an unmapped page; CPUs do not.)
type isa struct {
	name  string // suffix of the function names
	lanes int    // float32 lanes in a vector
	zmm   bool

	// tail masks the first n%lanes float32 lanes of a vector (set by setTail): a K
	// register for AVX-512, a YMM lane mask for AVX2.
	tail Op
	// AVX2: tailBytes holds 4·(n%lanes); buf is a 64-byte stack buffer for tails.
	tailBytes, buf Mem
	// far is the prefetch distance argument: of the cols reductions, and of the rows
	// kernels for prefetchAhead.
	far Mem

	labels int

	// nt makes full-vector stores non-temporal (see streamed).
	nt bool
	// inLine (AVX2) says the tail vectors lie within one 64-byte line, and so within the
	// page of their first lane: masked loads need no page test.
	inLine bool
}

func avx2() *isa   { return &isa{name: "AVX2", lanes: 8} }
func avx512() *isa { return &isa{name: "AVX512", lanes: 16, zmm: true} }

// text starts a function, aligned to 64 bytes: the linker aligns functions to 32 only,
// so a kernel's loops would otherwise sit at either half of a 64-byte fetch block by the
// sizes of the functions before it. Growing one function once made the AVX2 normalize,
// unchanged, 1.3× slower on NCHW 128×64 with S = 17 (Infer 1.95× copy → 2.5×); aligned,
// 1.9×.
func (w *isa) text(name, signature string) {
	TEXT(name+w.name, NOSPLIT, signature)
	Instruction(&ir.Instruction{Opcode: "PCALIGN", Operands: []Op{U8(64)}})
	if !w.zmm {
		w.buf = AllocLocal(64)
		w.tailBytes = AllocLocal(8)
	}
}

// shift is log2(lanes).
func (w *isa) shift() int {
	if w.zmm {
		return 4
	}
	return 3
}

// size is the bytes in a vector.
func (w *isa) size() int { return 4 * w.lanes }

// vec allocates a vector register: float32 × lanes, or float64 × lanes/2.
func (w *isa) vec() VecVirtual {
	if w.zmm {
		return ZMM()
	}
	return YMM()
}

// half is the lower half of v as a register of its own.
func (w *isa) half(v VecVirtual) Op {
	if w.zmm {
		return v.AsY()
	}
	return v.AsX()
}

// label returns a label name unique in the file.
func (w *isa) label(name string) string {
	w.labels++
	return fmt.Sprintf("%s_%d", name, w.labels)
}

// zero clears v.
func (w *isa) zero(v VecVirtual) {
	if w.zmm {
		// avo marks VXORPS's VEX form as reading nothing, but not VPXORD's: its v would
		// then count as live from the function's entry, taking a register everywhere
		// before this point.
		Instruction(&ir.Instruction{Opcode: "VPXORD", Operands: []Op{v, v, v},
			Inputs: []Op{v, v}, Outputs: []Op{v}, CancellingInputs: true})
	} else {
		VXORPS(v, v, v)
	}
}

// Tables for tail masks, emitted once.
var (
	kmaskTable Mem // uint16 (1<<n)-1 for n = 0..16
	ymaskTable Mem // eight int32 -1 then eight 0
)

func tables() {
	kmaskTable = GLOBL("kmask", RODATA|NOPTR)
	for n := range 17 {
		DATA(2*n, U16(uint16(1<<n-1)))
	}
	ymaskTable = GLOBL("ymask", RODATA|NOPTR)
	for i := range 16 {
		v := uint32(0)
		if i < 8 {
			v = 0xffffffff
		}
		DATA(4*i, U32(v))
	}
}

// setTail sets the tail mask to the first n%lanes lanes; n counts float32 values.
func (w *isa) setTail(n Op) {
	r, t := GP64(), GP64()
	MOVQ(n, r)
	ANDQ(U8(w.lanes-1), r)
	if w.zmm {
		LEAQ(kmaskTable, t)
		m, k := GP32(), K()
		MOVWLZX(Mem{Base: t, Index: r, Scale: 2}, m)
		KMOVW(m, k)
		w.tail = k
		return
	}
	SHLQ(U8(2), r)
	MOVQ(r, w.tailBytes)
	LEAQ(ymaskTable, t)
	NEGQ(r)
	m := YMM()
	VMOVDQU(Mem{Base: t, Index: r, Scale: 1, Disp: 32}, m)
	w.tail = m
}

// copyBytes copies the bytes at src to dst, 4 at a time: n bytes, or 2n with double.
func (w *isa) copyBytes(src, dst Mem, double bool) {
	n, j, t := GP64(), GP64(), GP32()
	MOVQ(w.tailBytes, n)
	if double {
		SHLQ(U8(1), n)
	}
	src, dst = w.simple(src), w.simple(dst)
	src.Index, src.Scale = j, 1
	dst.Index, dst.Scale = j, 1
	XORQ(j, j)
	loop, done := w.label("copy"), w.label("copied")
	Label(loop)
	CMPQ(j, n)
	JGE(LabelRef(done))
	MOVL(src, t)
	MOVL(t, dst)
	ADDQ(U8(4), j)
	JMP(LabelRef(loop))
	Label(done)
}

// simple returns m with its address in a register of its own, unless it is on the stack
// or already a plain register.
func (w *isa) simple(m Mem) Mem {
	if m.Base == StackPointer || (m.Index == nil && m.Disp == 0) {
		return m
	}
	p := GP64()
	LEAQ(m, p)
	return Mem{Base: p}
}

// unlessSamePage emits a jump to label unless the vector at m lies within one 4 KiB page.
// A masked load or store that stays within the page of its first, valid, lane cannot
// touch an unmapped page, even on emulators that ignore the mask.
func (w *isa) unlessSamePage(m Mem, label string) {
	t := GP64()
	MOVQ(m.Base, t) // m is simple: its address is in Base
	ANDQ(U32(4095), t)
	CMPQ(t, U32(4096-w.size()))
	JA(LabelRef(label))
}

// bufIn zeroes the stack buffer and copies the tail at m into it.
func (w *isa) bufIn(m Mem, double bool) {
	z := YMM()
	VXORPS(z, z, z)
	VMOVUPS(z, w.buf)
	VMOVUPS(z, w.buf.Offset(32))
	w.copyBytes(m, w.buf, double)
}

// load loads a float32 vector, only the tail lanes when tail (the others read as zero).
func (w *isa) load(m Mem, dst VecVirtual, tail bool) {
	switch {
	case !tail:
		VMOVUPS(m, dst)
	case w.zmm:
		VMOVUPS_Z(m, w.tail, dst)
	case w.inLine:
		VMASKMOVPS(m, w.tail, dst)
	default:
		m = w.simple(m)
		slow, done := w.label("loadslow"), w.label("loaded")
		w.unlessSamePage(m, slow)
		VMASKMOVPS(m, w.tail, dst)
		JMP(LabelRef(done))
		Label(slow)
		w.bufIn(m, false)
		VMOVUPS(w.buf, dst)
		Label(done)
	}
}

// store stores a float32 vector, only the tail lanes when tail.
func (w *isa) store(src VecVirtual, m Mem, tail bool) {
	switch {
	case !tail && w.nt:
		VMOVNTPS(src, m)
	case !tail:
		VMOVUPS(src, m)
	case w.zmm:
		VMOVUPS(src, w.tail, m)
	default:
		m = w.simple(m)
		slow, done := w.label("storeslow"), w.label("stored")
		w.unlessSamePage(m, slow)
		VMASKMOVPS(src, w.tail, m)
		JMP(LabelRef(done))
		Label(slow)
		VMOVUPS(src, w.buf)
		w.copyBytes(w.buf, m, false)
		Label(done)
	}
}

// loadPD loads the float64 values of a vector's channels at m, lower half then upper:
// only those of the tail when tail.
func (w *isa) loadPD(m Mem, tail bool) [2]VecVirtual {
	v := [2]VecVirtual{w.vec(), w.vec()}
	switch {
	case !tail:
		VMOVUPD(m, v[0])
		VMOVUPD(m.Offset(w.size()), v[1])
	case w.zmm:
		hi := K()
		KSHIFTRW(U8(8), w.tail, hi)
		VMOVUPD_Z(m, w.tail, v[0])
		VMOVUPD_Z(m.Offset(w.size()), hi, v[1])
	default:
		w.bufIn(m, true)
		VMOVUPD(w.buf, v[0])
		VMOVUPD(w.buf.Offset(32), v[1])
	}
	return v
}

// storePD stores what loadPD loads.
func (w *isa) storePD(v [2]VecVirtual, m Mem, tail bool) {
	switch {
	case !tail:
		VMOVUPD(v[0], m)
		VMOVUPD(v[1], m.Offset(w.size()))
	case w.zmm:
		hi := K()
		KSHIFTRW(U8(8), w.tail, hi)
		VMOVUPD(v[0], w.tail, m)
		VMOVUPD(v[1], hi, m.Offset(w.size()))
	default:
		VMOVUPD(v[0], w.buf)
		VMOVUPD(v[1], w.buf.Offset(32))
		w.copyBytes(w.buf, m, true)
	}
}

// subTail sets d = x - k in the tail lanes and zero in the others.
func (w *isa) subTail(k, x, d VecVirtual) {
	if w.zmm {
		VSUBPS_Z(k, x, w.tail, d)
		return
	}
	VSUBPS(k, x, d)
	VANDPS(w.tail, d, d)
}

// widen returns half h of the float32 vector v converted to float64.
func (w *isa) widen(v VecVirtual, h int) VecVirtual {
	t := w.vec()
	switch {
	case h == 0:
		VCVTPS2PD(w.half(v), t)
	case w.zmm:
		VEXTRACTF64X4(U8(1), v, t.AsY())
		VCVTPS2PD(t.AsY(), t)
	default:
		VEXTRACTF128(U8(1), v, t.AsX())
		VCVTPS2PD(t.AsX(), t)
	}
	return t
}

// addWide adds both halves of the float32 vector v, as float64, to acc.
func (w *isa) addWide(acc, v VecVirtual) {
	lo, hi := w.widen(v, 0), w.widen(v, 1)
	VADDPD(hi, lo, lo)
	VADDPD(lo, acc, acc)
}

// narrow returns the float64 halves v converted to one float32 vector.
func (w *isa) narrow(v [2]VecVirtual) VecVirtual {
	lo, hi := w.vec(), w.vec()
	// The conversion writes lo's lower half only, which avo takes to leave the upper
	// half live from the function's entry: each narrow held a register for the whole
	// function until zeroing lo first, a zero idiom, ended that.
	w.zero(lo)
	if w.zmm {
		VCVTPD2PS(v[0], lo.AsY())
		VCVTPD2PS(v[1], hi.AsY())
		VINSERTF64X4(U8(1), hi.AsY(), lo, lo)
		return lo
	}
	VCVTPD2PSY(v[0], lo.AsX())
	VCVTPD2PSY(v[1], hi.AsX())
	VINSERTF128(U8(1), hi.AsX(), lo, lo)
	return lo
}

// hsumPD sums the float64 lanes of v; the sum is in the low lane of v.
func (w *isa) hsumPD(v VecVirtual) {
	t := w.vec()
	if w.zmm {
		VSHUFF64X2(U8(0x4e), v, v, t) // swap 256-bit halves
		VADDPD(t, v, v)
		VSHUFF64X2(U8(0xb1), v, v, t) // swap 128-bit lanes within halves
		VADDPD(t, v, v)
		VPERMILPD(U8(0x55), v, t) // swap float64 lanes within 128 bits
		VADDPD(t, v, v)
		return
	}
	VEXTRACTF128(U8(1), v, t.AsX())
	VADDPD(t.AsX(), v.AsX(), v.AsX())
	VPERMILPD(U8(1), v.AsX(), t.AsX())
	VADDSD(t.AsX(), v.AsX(), v.AsX())
}

// loop emits a loop over n values (n a register or memory operand): blocks of unroll
// vectors, then single vectors, then one tail of n%lanes values under the tail mask.
// body(i, nv, tail) handles nv vectors at byte offset i (which it adds to its base
// pointers), or the tail. The returned i is 4n when the loop ends.
func (w *isa) loop(n Op, unroll int, body func(i Register, nv int, tail bool)) Register {
	i, end := GP64(), GP64()
	XORQ(i, i)
	MOVQ(n, end)
	SHLQ(U8(2), end)
	return w.loopTo(i, end, unroll, body)
}

// loopFrom is loop over the bytes from offset start to start+bytes (both registers).
func (w *isa) loopFrom(start, bytes Register, unroll int, body func(i Register, nv int, tail bool)) Register {
	i, end := GP64(), GP64()
	MOVQ(start, i)
	LEAQ(Mem{Base: start, Index: bytes, Scale: 1}, end)
	return w.loopTo(i, end, unroll, body)
}

// loopTo is the loop of loop and loopFrom, from byte offset i to end.
func (w *isa) loopTo(i, end Register, unroll int, body func(i Register, nv int, tail bool)) Register {
	singles, tail, done := w.label("singles"), w.label("tail"), w.label("done")
	if unroll > 1 {
		blocks, blocksDone := w.label("blocks"), w.label("blocksdone")
		SUBQ(U32(unroll*w.size()), end)
		Label(blocks)
		CMPQ(i, end)
		JGT(LabelRef(blocksDone))
		body(i, unroll, false)
		ADDQ(U32(unroll*w.size()), i)
		JMP(LabelRef(blocks))
		Label(blocksDone)
		ADDQ(U32((unroll-1)*w.size()), end)
	} else {
		SUBQ(U32(w.size()), end)
	}
	Label(singles)
	CMPQ(i, end)
	JGT(LabelRef(tail))
	body(i, 1, false)
	ADDQ(U32(w.size()), i)
	JMP(LabelRef(singles))
	Label(tail)
	ADDQ(U32(w.size()), end)
	CMPQ(i, end)
	JEQ(LabelRef(done))
	body(i, 1, true)
	MOVQ(end, i)
	Label(done)
	return i
}

// prefetchAhead emits prefetches of the bytes at far (w.far, in bytes; nothing when it
// is zero) past each pointer, offset by i unless i is nil. The rows kernels take far as
// the distance between samples: a tile of few channels reads each sample's runs as short
// streams far apart, which the stream prefetchers only pick up after some misses each;
// prefetching the next sample's run at the same offset keeps one run in flight.
func (w *isa) prefetchAhead(ptrs []Register, i Register, bytes int) {
	skip := w.label("noprefetch")
	t := GP64()
	MOVQ(w.far, t)
	TESTQ(t, t)
	JZ(LabelRef(skip))
	prefetchAt(t, ptrs, i, bytes)
	Label(skip)
}

// pageAhead is how far ahead of its stores a streaming loop touches its output's pages
// (prefetchPage). 8 and 32 KB measured level with 16.
const pageAhead = 16 << 10

// prefetchPage (streaming loops only) emits a prefetch of the first line of the page
// pageAhead bytes past out, offset by i unless i is nil, so that the page's translation
// is ready before the stores reach it: the hardware prefetchers stop at page boundaries,
// and nothing walks the page tables ahead of non-temporal stores. After a pass that only
// read x (Forward's moments, Backward's reduction), y's page-table entries had left the
// caches, and normalizing NHWC 32×64×56×56 took 1150 µs where in a loop of its own it
// took 800 µs. Reading one value of each page of y first brought it to 820 µs, and this
// prefetch to 870 µs, for one line a page (1.6 % of the bytes written).
func (w *isa) prefetchPage(out, i Register) {
	if !w.nt {
		return
	}
	t := GP64()
	m := Mem{Base: out, Disp: pageAhead}
	if i != nil {
		m.Index, m.Scale = i, 1
	}
	LEAQ(m, t)
	ANDQ(I32(-4096), t)
	PREFETCHT0(Mem{Base: t})
}

// prefetchAt emits prefetches of the bytes at far (a register) past each pointer,
// offset by i unless i is nil.
func prefetchAt(far Register, ptrs []Register, i Register, bytes int) {
	for _, p := range ptrs {
		q := GP64()
		LEAQ(Mem{Base: far, Index: p, Scale: 1}, q)
		for off := 0; off < bytes; off += 64 {
			m := Mem{Base: q, Disp: off}
			if i != nil {
				m.Index, m.Scale = i, 1
			}
			PREFETCHT0(m)
		}
	}
}

// addr is the address of an argument.
func addr(c Component) Mem {
	b, err := c.Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

// streamed emits body twice: with plain stores, and, when the stream argument is not
// zero, with non-temporal stores of the full vectors, which write large outputs without
// first reading their cache lines (the wrapper guarantees vector-aligned full vectors).
func (w *isa) streamed(body func()) {
	nt := w.label("nontemporal")
	CMPQ(addr(Param("stream")), U8(0))
	JNE(LabelRef(nt))
	body()
	Label(nt)
	w.nt = true
	body()
	w.nt = false
}

// ret returns, fencing non-temporal stores first.
func (w *isa) ret() {
	if w.nt {
		SFENCE()
	}
	VZEROUPPER()
	RET()
}

// at is the address base + i + disp.
func at(base, i Register, disp int) Mem { return Mem{Base: base, Index: i, Scale: 1, Disp: disp} }
