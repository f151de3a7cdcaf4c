//go:build !purego

package bn

import (
	"math"
	"testing"
)

// TestStreamingStores covers the non-temporal store paths of the elementwise kernels,
// which only outputs of streamFrom bytes or more take: the shared parity tests use smaller
// tensors.
func TestStreamingStores(t *testing.T) {
	if testing.Short() {
		t.Skip("large tensors")
	}
	for _, r := range archKernels() {
		if !r.available {
			continue
		}
		v := avx2
		if r.kernels == &avx512Kernels {
			v = avx512
		}
		t.Run(r.kernels.name, func(t *testing.T) {
			rng := newRand(7)
			const n, width, samples = 100, 3136, 4
			stride := n * width
			size := samples * stride
			rows := size / 64
			x, dy := normal(rng, size, 3, 2), normal(rng, size, 0, 1)
			center, scale, shift, g0 := normal(rng, n, 3, 1), normal(rng, n, 1, 0.5), normal(rng, n, 0, 1), normal(rng, n, 0, 1)
			want, got := make([]float32, size), make([]float32, size)
			if v.stream(got, width, stride) != 1 || v.stream(got, 64) != 1 {
				t.Fatal("the test tensors do not take the streaming path")
			}
			// Two FMAs round twice where generic rounds once: allow 2 ulp of the result or
			// of the largest term, whichever is larger.
			check := func(what string) {
				t.Helper()
				for i := range want {
					scale := math.Max(math.Abs(float64(want[i])), math.Abs(float64(x[i]))*4+math.Abs(float64(dy[i]))*4+4)
					if d := ulps(want[i], got[i]); d > 2 && math.Abs(float64(want[i]-got[i])) > 2*scale*0x1p-23 {
						t.Fatalf("%s: [%d] = %v, generic %v (%d ulp)", what, i, got[i], want[i], d)
					}
				}
			}
			normalizeRowsGeneric(want, x, center, scale, shift, width, samples, stride)
			v.normalizeRows(got, x, center, scale, shift, width, samples, stride)
			check("normalizeRows")
			gradRowsGeneric(want, dy, x, center, scale, shift, g0, width, samples, stride)
			v.gradRows(got, dy, x, center, scale, shift, g0, width, samples, stride)
			check("gradRows")
			normalizeColsGeneric(want, x, center[:64], scale, shift, rows, 64)
			v.normalizeCols(got, x, center[:64], scale, shift, rows, 64)
			check("normalizeCols")
			gradColsGeneric(want, dy, x, center[:64], scale, shift, g0, rows, 64)
			v.gradCols(got, dy, x, center[:64], scale, shift, g0, rows, 64)
			check("gradCols")
			// In place; a row of 100 channels (400 bytes) is not vector-aligned, so
			// normalizeCols takes plain stores here.
			copy(got, x)
			normalizeColsGeneric(want, x, center, scale, shift, size/n, n)
			v.normalizeCols(got, got, center, scale, shift, size/n, n)
			check("normalizeCols in place")
			copy(got, x)
			normalizeRowsGeneric(want, x, center, scale, shift, width, samples, stride)
			v.normalizeRows(got, got, center, scale, shift, width, samples, stride)
			check("normalizeRows in place")
		})
	}
}
