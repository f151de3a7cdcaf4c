package bn_test

import (
	"testing"

	"github.com/simdnorm/bn"
	"github.com/simdnorm/bn/internal/bench"
)

// BenchmarkBN measures every operation on every benchmark shape with every kernel set this
// CPU runs, next to a copy() of the same bytes: compare within one run, as ratios, with
// -count=10 and benchstat. Bytes per op are the bytes of x. BN_BENCH_HUGEPAGES=1 puts
// the tensors in 2 MiB pages (see bench.HugePages).
func BenchmarkBN(b *testing.B) {
	prev := bn.Kernel()
	defer bn.UseKernel(prev)
	for _, c := range bench.Cases {
		w := bench.NewWorkspace(c.Shape)
		b.Run(c.Name, func(b *testing.B) {
			b.Run("copy", func(b *testing.B) { run(b, w, bench.Copy) })
			for _, k := range bn.Kernels() {
				for _, op := range bench.Ops {
					b.Run(op.Name+"/"+k, func(b *testing.B) {
						if err := bn.UseKernel(k); err != nil {
							b.Fatal(err)
						}
						run(b, w, op)
					})
				}
			}
		})
		w.Release()
	}
}

func run(b *testing.B, w *bench.Workspace, op bench.Op) {
	b.SetBytes(int64(4 * w.Shape.Len()))
	for b.Loop() {
		if err := op.Run(w); err != nil {
			b.Fatal(err)
		}
	}
}
