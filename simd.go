//go:build !purego && (amd64 || arm64)

package bn

// Checks of the slices the SIMD wrappers hand to assembly, which reads and writes
// without bounds checks.

// span returns s cut to n values; it panics if s is shorter.
func span(s []float32, n int) []float32 {
	if n > len(s) {
		panic("bn: kernel slice shorter than its span")
	}
	return s[:n]
}

// params checks that every per-channel slice holds n values and tells the race
// detector the kernel reads them.
func params(n int, ps ...[]float32) {
	for _, p := range ps {
		raceRead(span(p, n))
	}
}
