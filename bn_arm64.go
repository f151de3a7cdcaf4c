//go:build !purego

package bn

// archKernels lists this architecture's SIMD kernel sets, best first.
func archKernels() []registration { return nil }
