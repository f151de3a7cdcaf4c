//go:build arm64 && !purego

package bn

import (
	"math"
	"math/rand"
	"syscall"
	"testing"
	"unsafe"
)

// guarded returns a slice of n float32 flush against a PROT_NONE page.
func guarded(t *testing.T, n int) []float32 {
	ps := syscall.Getpagesize()
	size := (n*4+ps-1)/ps*ps + ps
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mprotect(b[size-ps:], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Munmap(b) })
	start := size - ps - n*4
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[start])), n)
}

func fill(r *rand.Rand, s []float32, mean, spread float64) {
	for i := range s {
		s[i] = float32(mean + spread*r.NormFloat64())
	}
}

func clone(t *testing.T, s []float32) []float32 {
	c := guarded(t, len(s))
	copy(c, s)
	return c
}

func closeRel(a, b, scale, tol float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= tol*scale
}

func TestNEONTmpMoments(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, width := range []int{1, 2, 3, 4, 5, 7, 15, 16, 17, 31, 33, 49, 64, 100, 255, 256, 257, 300, 513} {
		for _, nc := range []int{1, 2, 3, 5, 17} {
			for _, samples := range []int{1, 3} {
				for _, count := range []int{0, 10} {
					extra := r.Intn(3) * width
					stride := nc*width + extra
					n := (samples-1)*stride + nc*width
					x := guarded(t, n)
					fill(r, x, 100, 3)
					mg, m2g := make([]float64, nc), make([]float64, nc)
					for i := range mg {
						if count > 0 {
							mg[i], m2g[i] = 100.5, 9*float64(count)
						}
					}
					mn, m2n := append([]float64(nil), mg...), append([]float64(nil), m2g...)
					momentsRowsGeneric(mg, m2g, count, x, width, samples, stride)
					neonKernels.momentsRows(mn, m2n, count, x, width, samples, stride)
					for i := range mg {
						if !closeRel(mg[i], mn[i], 100, 1e-6) || !closeRel(m2g[i], m2n[i], m2g[i]+1e-9, 1e-5) {
							t.Fatalf("rows w%d nc%d s%d c%d ch%d: generic %v %v neon %v %v", width, nc, samples, count, i, mg[i], m2g[i], mn[i], m2n[i])
						}
					}
				}
			}
		}
	}
	for _, rows := range []int{1, 2, 3, 31, 32, 33, 65, 100} {
		for _, nc := range []int{1, 3, 4, 5, 15, 16, 17, 20, 33, 64, 250, 300} {
			for _, count := range []int{0, 5, 31, 32, 33} {
				stride := nc + r.Intn(3)
				n := (rows-1)*stride + nc
				x := guarded(t, n)
				fill(r, x, -50, 2)
				mg, m2g := make([]float64, nc), make([]float64, nc)
				for i := range mg {
					if count > 0 {
						mg[i], m2g[i] = -50.25, 4*float64(count)
					}
				}
				mn, m2n := append([]float64(nil), mg...), append([]float64(nil), m2g...)
				momentsColsGeneric(mg, m2g, count, x, rows, stride)
				neonKernels.momentsCols(mn, m2n, count, x, rows, stride)
				for i := range mg {
					if !closeRel(mg[i], mn[i], 50, 1e-6) || !closeRel(m2g[i], m2n[i], m2g[i]+1e-9, 1e-5) {
						t.Fatalf("cols r%d nc%d c%d ch%d: generic %v %v neon %v %v", rows, nc, count, i, mg[i], m2g[i], mn[i], m2n[i])
					}
				}
			}
		}
	}
}

func TestNEONTmpElementwise(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	check := func(name string, got, want, x []float32) {
		t.Helper()
		for i := range want {
			tol := 4 * float64(math.Nextafter32(float32(math.Abs(float64(want[i])))+1, 1e30)-(float32(math.Abs(float64(want[i])))+1))
			if math.Abs(float64(got[i]-want[i])) > tol {
				t.Fatalf("%s: at %d got %v want %v", name, i, got[i], want[i])
			}
		}
	}
	params := func(nc int) (c, a, b, d []float32) {
		c, a, b, d = guarded(t, nc), guarded(t, nc), guarded(t, nc), guarded(t, nc)
		fill(r, c, 10, 1)
		fill(r, a, 0, 1)
		fill(r, b, 0, 1)
		fill(r, d, 0, 0.1)
		return
	}
	for _, width := range []int{1, 2, 3, 4, 5, 7, 15, 16, 17, 31, 33, 49, 64, 100, 257, 300} {
		for _, nc := range []int{1, 2, 3, 5, 17} {
			for _, samples := range []int{1, 3} {
				stride := nc*width + r.Intn(3)*width
				n := (samples-1)*stride + nc*width
				x, dy := guarded(t, n), guarded(t, n)
				fill(r, x, 10, 2)
				fill(r, dy, 0, 1)
				c, a, b, g0 := params(nc)
				yg, yn := clone(t, x), clone(t, x)
				normalizeRowsGeneric(yg, x, c, a, b, width, samples, stride)
				neonKernels.normalizeRows(yn, x, c, a, b, width, samples, stride)
				check("normalizeRows", yn, yg, x)
				xi := clone(t, x)
				neonKernels.normalizeRows(xi, xi, c, a, b, width, samples, stride)
				check("normalizeRows in place", xi, yg, x)
				gradRowsGeneric(yg, dy, x, c, a, b, g0, width, samples, stride)
				neonKernels.gradRows(yn, dy, x, c, a, b, g0, width, samples, stride)
				check("gradRows", yn, yg, x)
				di, dg := clone(t, dy), clone(t, dy)
				neonKernels.gradRows(di, di, x, c, a, b, g0, width, samples, stride)
				gradRowsGeneric(dg, dg, x, c, a, b, g0, width, samples, stride)
				check("gradRows in place", di, dg, x)
				s1g, s2g := make([]float64, nc), make([]float64, nc)
				s1g[0] = 1
				s1n, s2n := append([]float64(nil), s1g...), append([]float64(nil), s2g...)
				reduceRowsGeneric(s1g, s2g, dy, x, c, width, samples, stride)
				neonKernels.reduceRows(s1n, s2n, dy, x, c, width, samples, stride)
				for i := range s1g {
					sc := math.Sqrt(float64(width * samples))
					if !closeRel(s1g[i], s1n[i], 4*sc, 1e-6) || !closeRel(s2g[i], s2n[i], 20*sc, 1e-6) {
						t.Fatalf("reduceRows w%d nc%d ch%d: %v %v vs %v %v", width, nc, i, s1g[i], s2g[i], s1n[i], s2n[i])
					}
				}
			}
		}
	}
	for _, rows := range []int{1, 2, 3, 31, 32, 33, 65, 64, 129, 200} {
		for _, nc := range []int{1, 3, 4, 5, 15, 16, 17, 20, 33, 64, 250, 300} {
			stride := nc + r.Intn(3)
			n := (rows-1)*stride + nc
			x, dy := guarded(t, n), guarded(t, n)
			fill(r, x, 10, 2)
			fill(r, dy, 0, 1)
			c, a, b, g0 := params(nc)
			yg, yn := clone(t, x), clone(t, x)
			normalizeColsGeneric(yg, x, c, a, b, rows, stride)
			neonKernels.normalizeCols(yn, x, c, a, b, rows, stride)
			check("normalizeCols", yn, yg, x)
			gradColsGeneric(yg, dy, x, c, a, b, g0, rows, stride)
			neonKernels.gradCols(yn, dy, x, c, a, b, g0, rows, stride)
			check("gradCols", yn, yg, x)
			for _, count := range []int{0, 7, 32} {
				s1g, s2g := make([]float64, nc), make([]float64, nc)
				s1n, s2n := make([]float64, nc), make([]float64, nc)
				reduceColsGeneric(s1g, s2g, count, dy, x, c, rows, stride)
				neonKernels.reduceCols(s1n, s2n, count, dy, x, c, rows, stride)
				for i := range s1g {
					sc := math.Sqrt(float64(rows))
					if !closeRel(s1g[i], s1n[i], 4*sc, 1e-6) || !closeRel(s2g[i], s2n[i], 20*sc, 1e-6) {
						t.Fatalf("reduceCols r%d nc%d ch%d: %v %v vs %v %v", rows, nc, i, s1g[i], s2g[i], s1n[i], s2n[i])
					}
				}
			}
		}
	}
}
