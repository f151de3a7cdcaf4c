// Command _asm generates bn's amd64 kernels, bn_amd64.s: each kernel twice from the same
// code, for AVX2 (YMM) and for AVX-512F (ZMM). See README.md.
package main

import (
	. "github.com/mmcloughlin/avo/build"
)

func main() {
	ConstraintExpr("!purego")
	tables()
	for _, w := range []*isa{avx2(), avx512()} {
		w.momentsRows()
		w.momentsCols()
		w.normalize()
		w.reduceRows()
		w.reduceCols()
		w.grad()
	}
	Generate()
}
