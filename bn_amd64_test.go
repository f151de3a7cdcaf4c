//go:build !purego

package bn

import (
	"fmt"
	"math"
	"testing"

	"github.com/simdnorm/bn/internal/guard"
)

// TestStreamingStores covers the non-temporal store paths of the elementwise kernels (the
// normalize with a center and without), which only outputs of normStreamFrom or
// gradStreamFrom bytes or more take: the shared parity tests use smaller tensors.
func TestStreamingStores(t *testing.T) {
	if testing.Short() {
		t.Skip("large tensors")
	}
	forEachISA(t, func(t *testing.T, v vectorISA) {
		rng := newRand(7)
		const n, width, samples = 100, 3136, 7
		stride := n * width
		size := samples * stride
		rows := size / 64
		x, dy := normal(rng, size, 3, 2), normal(rng, size, 0, 1)
		center, scale, shift, g0 := normal(rng, n, 3, 1), normal(rng, n, 1, 0.5), normal(rng, n, 0, 1), normal(rng, n, 0, 1)
		want, got := make([]float32, size), make([]float32, size)
		if v.stream(got, normStreamFrom, width, stride) != 1 || v.stream(got, normStreamFrom, 64) != 1 {
			t.Fatal("the test tensors do not take the streaming path")
		}
		check := func(what string) {
			t.Helper()
			checkStreamed(t, what, want, got, x, dy)
		}
		// checkRows checks both rows kernels on runs of width values, stride apart.
		checkRows := func(what string, width, stride int) {
			t.Helper()
			normalizeRowsGeneric(want, x, center, scale, shift, width, samples, stride)
			v.normalizeRows(got, x, center, scale, shift, width, samples, stride)
			check("normalizeRows" + what)
			normalizeRowsGeneric(want, x, nil, scale, shift, width, samples, stride)
			v.normalizeRows(got, x, nil, scale, shift, width, samples, stride)
			check("normalizeRows, no center" + what)
			gradRowsGeneric(want, dy, x, center, scale, shift, g0, width, samples, stride)
			v.gradRows(got, dy, x, center, scale, shift, g0, width, samples, stride)
			check("gradRows" + what)
		}
		checkRows("", width, stride)
		normalizeColsGeneric(want, x, center[:64], scale, shift, rows, 64)
		v.normalizeCols(got, x, center[:64], scale, shift, rows, 64)
		check("normalizeCols")
		normalizeColsGeneric(want, x, nil, scale[:64], shift[:64], rows, 64)
		v.normalizeCols(got, x, nil, scale[:64], shift[:64], rows, 64)
		check("normalizeCols, no center")
		gradColsGeneric(want, dy, x, center[:64], scale, shift, g0, rows, 64)
		v.gradCols(got, dy, x, center[:64], scale, shift, g0, rows, 64)
		check("gradCols")
		// Rows of 100 channels (400 bytes) are not whole vectors: streamed a few rows at a
		// time (lineRows), the last rows, fewer than that, on their own through the cache.
		// Out of place and in place.
		wide := size/n - 1
		if p := v.lineRows(got, n, wide, n); p < 2 || wide%p == 0 || v.stream(got[:wide/p*p*n], normStreamFrom, p*n) == 0 {
			t.Fatal("rows of 100 channels do not take the streaming path with rows left over")
		}
		end := wide * n
		checkWide := func(what string) {
			t.Helper()
			checkStreamed(t, what, want[:end], got[:end], x, dy)
		}
		normalizeColsGeneric(want, x, center, scale, shift, wide, n)
		v.normalizeCols(got, x, center, scale, shift, wide, n)
		checkWide("normalizeCols, rows of 100")
		normalizeColsGeneric(want, x, nil, scale, shift, wide, n)
		v.normalizeCols(got, x, nil, scale, shift, wide, n)
		checkWide("normalizeCols, rows of 100, no center")
		gradColsGeneric(want, dy, x, center, scale, shift, g0, wide, n)
		v.gradCols(got, dy, x, center, scale, shift, g0, wide, n)
		checkWide("gradCols, rows of 100")
		copy(got, x)
		normalizeColsGeneric(want, x, center, scale, shift, wide, n)
		v.normalizeCols(got, got, center, scale, shift, wide, n)
		checkWide("normalizeCols in place")
		copy(got, x)
		normalizeRowsGeneric(want, x, center, scale, shift, width, samples, stride)
		v.normalizeRows(got, got, center, scale, shift, width, samples, stride)
		check("normalizeRows in place")

		// Runs of an odd width, the output a value past a vector boundary: still stored
		// non-temporally, all but each run's partial lines.
		const odd = 3025
		oddStride := n * odd
		oddSize := samples * oddStride
		want, got, x, dy = want[:oddSize], got[1:oddSize+1], x[:oddSize], dy[:oddSize]
		for _, r := range []rowsStream{v.normStream(false), gradStream} {
			if v.streamRows(got, odd, oddStride, r) != 1 {
				t.Fatal("odd runs do not take the streaming path")
			}
		}
		checkRows(", odd runs", odd, oddStride)
		copy(got, x)
		normalizeRowsGeneric(want, x, center, scale, shift, odd, samples, oddStride)
		v.normalizeRows(got, got, center, scale, shift, odd, samples, oddStride)
		check("normalizeRows in place, odd runs")

		// A tile of twenty channels with shorter runs, as Forward normalizes when it blocks
		// for the cache and as the gradient takes them: streamed as normStream(true) and
		// gradStream say, down to the shortest run streamed.
		const c0, tile = 3, 20
		for _, r := range []struct{ width, samples int }{{196, 108}, {minStreamRun + 1, 1240}} {
			short := r.width
			shortStride := n * short
			want, got = make([]float32, r.samples*shortStride), make([]float32, r.samples*shortStride)
			x, dy = x[:len(want)], dy[:len(want)]
			at := func(s []float32) []float32 { return s[c0*short:] }
			span := rowsSpan(at(got), tile, short, r.samples, shortStride)
			if v.streamRows(span, short, shortStride, v.normStream(true)) != 1 || v.streamRows(span, short, shortStride, gradStream) != 1 {
				t.Fatalf("the tile of runs of %d does not take the streaming path", short)
			}
			what := fmt.Sprintf(", a tile of runs of %d", short)
			normalizeRowsGeneric(at(want), at(x), center[:tile], scale, shift, short, r.samples, shortStride)
			v.normalizeRows(at(got), at(x), center[:tile], scale, shift, short, r.samples, shortStride)
			check("normalizeRows" + what)
			normalizeRowsGeneric(at(want), at(x), nil, scale[:tile], shift[:tile], short, r.samples, shortStride)
			v.normalizeRows(at(got), at(x), nil, scale[:tile], shift[:tile], short, r.samples, shortStride)
			check("normalizeRows, no center" + what)
			gradRowsGeneric(at(want), at(dy), at(x), center[:tile], scale, shift, g0, short, r.samples, shortStride)
			v.gradRows(at(got), at(dy), at(x), center[:tile], scale, shift, g0, short, r.samples, shortStride)
			check("gradRows" + what)
		}
	})
}

// TestStreamingGuarded runs the streaming rows kernels on runs that start off vector
// boundaries, with every slice flush against a guard page at one end: both widths compute
// a run's head from before its start (AVX-512 under a mask, AVX2 from the run before) and
// store a run's tail with the next run's head, and neither may touch memory outside the
// slices.
func TestStreamingGuarded(t *testing.T) {
	if testing.Short() {
		t.Skip("large tensors")
	}
	forEachISA(t, func(t *testing.T, v vectorISA) {
		rng := newRand(11)
		const n, width, samples = 100, 3025, 7
		stride, size := n*width, samples*n*width
		x, dy := normal(rng, size, 3, 2), normal(rng, size, 0, 1)
		center, scale, shift, g0 := normal(rng, n, 3, 1), normal(rng, n, 1, 0.5), normal(rng, n, 0, 1), normal(rng, n, 0, 1)
		want := make([]float32, size)
		for _, head := range []bool{true, false} {
			t.Logf("slices at the regions' starts: %v", head)
			// place returns a guarded copy of src: at the region's end, or at its start,
			// one value past a vector boundary and followed by 16 zeros (returned as
			// spare), which the kernels must leave alone.
			place := func(src []float32) (s, spare []float32) {
				r, err := guard.New(len(src) + 16)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { r.Free() })
				if !head {
					s = r.Tail(len(src))
					copy(s, src)
					return s, nil
				}
				s = r.Head(len(src)+16, 1)
				copy(s, src)
				return s[:len(src)], s[len(src):]
			}
			gx, _ := place(x)
			gdy, _ := place(dy)
			got, spare := place(make([]float32, size))
			checkSpare := func(what string) {
				t.Helper()
				for i, v := range spare {
					if v != 0 {
						t.Fatalf("%s wrote %v %d values past the output's end", what, v, i+1)
					}
				}
			}
			if v.streamRows(got, width, stride, v.normStream(false)) != 1 || v.streamRows(got, width, stride, gradStream) != 1 {
				t.Fatal("the guarded tensors do not take the streaming path")
			}
			normalizeRowsGeneric(want, x, center, scale, shift, width, samples, stride)
			v.normalizeRows(got, gx, center, scale, shift, width, samples, stride)
			checkStreamed(t, "normalizeRows", want, got, x, dy)
			checkSpare("normalizeRows")
			normalizeRowsGeneric(want, x, nil, scale, shift, width, samples, stride)
			v.normalizeRows(got, gx, nil, scale, shift, width, samples, stride)
			checkStreamed(t, "normalizeRows, no center", want, got, x, dy)
			checkSpare("normalizeRows, no center")
			gradRowsGeneric(want, dy, x, center, scale, shift, g0, width, samples, stride)
			v.gradRows(got, gdy, gx, center, scale, shift, g0, width, samples, stride)
			checkStreamed(t, "gradRows", want, got, x, dy)
			checkSpare("gradRows")
		}
	})
}

// checkStreamed compares a kernel's output got with generic's want, computed from x and
// dy. Two FMAs round twice where generic rounds once: it allows 2 ulp of the result or of
// the largest term, whichever is larger.
func checkStreamed(t *testing.T, what string, want, got, x, dy []float32) {
	t.Helper()
	for i := range want {
		scale := math.Max(math.Abs(float64(want[i])), math.Abs(float64(x[i]))*4+math.Abs(float64(dy[i]))*4+4)
		if d := ulps(want[i], got[i]); d > 2 && math.Abs(float64(want[i]-got[i])) > 2*scale*0x1p-23 {
			t.Fatalf("%s: [%d] = %v, generic %v (%d ulp)", what, i, got[i], want[i], d)
		}
	}
}

// TestShortWalks runs the short-run reduction both ways it can walk a group, with both
// vector widths: the wrappers choose one walk per shape and ISA (AVX2 reductions always
// walk by sample), so the parity tests would not reach the other.
func TestShortWalks(t *testing.T) {
	forEachISA(t, func(t *testing.T, v vectorISA) {
		rng := newRand(9)
		buf := new(rowBuf)
		for _, width := range []int{1, 7, 16, 33, 49, 100, 128} {
			const n, samples = 5, 23
			stride := n*width + 3
			size := (samples-1)*stride + n*width
			dy, x, center := normal(rng, size, 0, 1), normal(rng, size, 2, 1), normal(rng, n, 2, 0.1)
			want1, want2 := make([]float64, n), make([]float64, n)
			reduceRowsGeneric(want1, want2, dy, x, center, width, samples, stride)
			for walk := range 2 {
				got1, got2 := make([]float64, n), make([]float64, n)
				f := reduceShortRowsAVX2
				if v == avx512 {
					f = reduceShortRowsAVX512
				}
				f(got1, got2, buf.acc[:], dy, x, center, width, samples, stride, sampleGroup(width), 0, walk)
				for i := range n {
					// Float32 sums of up to runChunk terms of size about 1: a few
					// ulps of float32 of the terms' count, at most.
					tol := 1e-5 * float64(samples*width)
					if absErr(got1[i], want1[i]) > tol || absErr(got2[i], want2[i]) > tol {
						t.Errorf("width %d, walk %d, channel %d: (%v, %v), generic (%v, %v)",
							width, walk, i, got1[i], got2[i], want1[i], want2[i])
					}
				}
			}
		}
	})
}

// forEachISA runs f as a subtest for each amd64 kernel set this CPU runs.
func forEachISA(t *testing.T, f func(t *testing.T, v vectorISA)) {
	for _, r := range archKernels() {
		if !r.available {
			continue
		}
		v := avx2
		if r.kernels == &avx512Kernels {
			v = avx512
		}
		t.Run(r.kernels.name, func(t *testing.T) { f(t, v) })
	}
}

// TestColsBufferLayout runs the cols sums' assembly on a buffer of exactly colsBuf's
// length that ends at a guard page, a whole tile of channels at a time. The assembly's
// offsets of the sums come from the generator's own colsPad: if it were larger than
// colsBuf's, the last region's stores would fault here (past a pooled buffer they would
// corrupt the heap unseen); if smaller than the tile needs, the regions would overlap
// and the sums would differ from generic's.
func TestColsBufferLayout(t *testing.T) {
	forEachISA(t, func(t *testing.T, v vectorISA) {
		const rows = 9 // two groups of four rows and a single row
		r, err := guard.New(len(colsBuf{}))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Free()
		buf := r.Tail(len(colsBuf{}))
		rng := newRand(13)

		// The moments: kernelTile channels a call, the first row as the shifts.
		n := kernelTile
		x := normal(rng, rows*n, 3, 2)
		mean, m2 := make([]float64, n), make([]float64, n)
		copy(buf, x[:n])
		clear(buf[n : n+16])
		first := firstChunk(0, rows, momentsChunk)
		if v == avx512 {
			momentsColsAVX512(mean, m2, buf, x, rows, n, 0, first, 0)
		} else {
			momentsColsAVX2(mean, m2, buf, x, rows, n, 0, first, 0)
		}
		wantMean, wantM2 := make([]float64, n), make([]float64, n)
		momentsColsGeneric(wantMean, wantM2, 0, x, rows, n)
		for i := range n {
			if relErr(mean[i], wantMean[i]) > 1e-6 || relErr(m2[i], wantM2[i]) > 1e-5 {
				t.Fatalf("moments channel %d: %v, %v; generic %v, %v", i, mean[i], m2[i], wantMean[i], wantM2[i])
			}
		}

		// The reduction: reduceTile channels in one call, as on whole rows.
		n = reduceTile
		x, dy, center := normal(rng, rows*n, 3, 2), normal(rng, rows*n, 0, 1), normal(rng, n, 3, 0.5)
		sumDy, sumDyXc := make([]float64, n), make([]float64, n)
		copy(buf, center)
		clear(buf[n : n+16])
		first = firstChunk(0, rows, reduceChunk)
		if v == avx512 {
			reduceColsAVX512(sumDy, sumDyXc, buf, dy, x, rows, n, first, 0)
		} else {
			reduceColsAVX2(sumDy, sumDyXc, buf, dy, x, rows, n, first, 0)
		}
		wantDy, wantDyXc := make([]float64, n), make([]float64, n)
		reduceColsGeneric(wantDy, wantDyXc, 0, dy, x, center, rows, n)
		for i := range n {
			// Sums of terms of either sign: within float32 rounding of their magnitude.
			if absErr(sumDy[i], wantDy[i]) > 1e-5*rows || absErr(sumDyXc[i], wantDyXc[i]) > 1e-4*rows {
				t.Fatalf("reduction channel %d: %v, %v; generic %v, %v", i, sumDy[i], sumDyXc[i], wantDy[i], wantDyXc[i])
			}
		}
	})
}

// TestColsBufferDirty runs the cols moments on a pooled buffer left full of NaNs, where
// another call's sums and centers would be: the results must not depend on what the
// buffer held. The wrapper writes the shifts and clears the lanes after them up to a
// vector; the assembly clears its own sums. (sync.Pool hands back the buffer just put
// on the same goroutine, barring a garbage collection in between; without the shifts
// written, the test fails.)
func TestColsBufferDirty(t *testing.T) {
	forEachISA(t, func(t *testing.T, v vectorISA) {
		rng := newRand(17)
		for _, n := range []int{1, 7, 8, 15, 16, 17, 40, 80, 81, 100, 255, 256, 300} {
			const rows = 70 // a chunk of momentsChunk rows and a few more
			x := normal(rng, rows*n, 3, 2)
			mean, m2 := make([]float64, n), make([]float64, n)
			buf := colsBufs.Get().(*colsBuf)
			for i := range buf {
				buf[i] = float32(math.NaN())
			}
			colsBufs.Put(buf)
			v.momentsCols(mean, m2, 0, x, rows, n)
			wantMean, wantM2 := make([]float64, n), make([]float64, n)
			momentsColsGeneric(wantMean, wantM2, 0, x, rows, n)
			for i := range n {
				if relErr(mean[i], wantMean[i]) > 1e-6 || relErr(m2[i], wantM2[i]) > 1e-5 {
					t.Fatalf("%d channels, channel %d: %v, %v; generic %v, %v", n, i, mean[i], m2[i], wantMean[i], wantM2[i])
				}
			}
		}
	})
}
