package bn_test

import (
	"testing"
	"time"

	"github.com/simdnorm/bn"
	"github.com/simdnorm/bn/internal/bench"
)

// BenchmarkBN measures every operation on every benchmark shape with every kernel set this
// CPU runs, next to a copy() of the same bytes: compare within one run, as ratios, with
// -count=10 and benchstat. Bytes per op are the bytes of x. BN_BENCH_HUGEPAGES=1 puts
// the tensors in 2 MiB pages (see bench.HugePages).
func BenchmarkBN(b *testing.B) { benchCases(b, bench.Cases) }

// BenchmarkSmall measures the same on the small batches of an inference server, where
// the per-call work weighs most (bench.SmallCases).
func BenchmarkSmall(b *testing.B) { benchCases(b, bench.SmallCases) }

func benchCases(b *testing.B, cases []bench.Case) {
	prev := bn.Kernel()
	defer bn.UseKernel(prev)
	for _, c := range cases {
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

// run times op and reports, beside its ns/op, the time of a copy() of the same bytes
// measured in blocks that alternate with the op's (copy-ns/op) and the ratio of the two
// (x-copy). A shared machine's bandwidth can drift by 1.5× within a minute, so the copy
// row of the same shape, timed seconds earlier, can fall in another phase than the op;
// blocks of about 10 ms side by side fall in the same one.
func run(b *testing.B, w *bench.Workspace, op bench.Op) {
	const blockTime = 10 * time.Millisecond
	b.SetBytes(int64(4 * w.Shape.Len()))
	var copyTime time.Duration
	calls, block, blockStart := 0, 1, b.Elapsed()
	// Each side's first calls after the other's block go untimed: on the 56×56 shapes
	// the first copy after a block of any op took half again as long as copies in a
	// row, and the next two a tenth longer after Backward.
	copies := func() {
		b.StopTimer()
		bench.Copy.Run(w)
		bench.Copy.Run(w)
		t0 := time.Now()
		for range calls {
			bench.Copy.Run(w)
		}
		copyTime += time.Since(t0)
		if err := op.Run(w); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	total := 0
	for b.Loop() {
		if err := op.Run(w); err != nil {
			b.Fatal(err)
		}
		if calls++; calls < block {
			continue
		}
		total += calls
		if b.Elapsed()-blockStart < blockTime {
			block *= 2
		}
		copies()
		calls, blockStart = 0, b.Elapsed()
	}
	total += calls
	copies()
	b.StopTimer()
	if copyTime > 0 {
		b.ReportMetric(float64(copyTime.Nanoseconds())/float64(total), "copy-ns/op")
		b.ReportMetric(float64(b.Elapsed())/float64(copyTime), "x-copy")
	}
}
