//go:build purego || !(amd64 || arm64)

package bn

// archKernels lists no SIMD kernel sets: this build runs the generic kernels alone.
func archKernels() []registration { return nil }
