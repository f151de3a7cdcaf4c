// Command bnbench measures bn's operations on typical layer shapes and prints, for each,
// the time per call, the throughput in bytes of x per second, and the ratio to a copy()
// of the same bytes measured in the same run: the memory roofline that Infer and
// ScaleShift can at best reach.
//
// Usage:
//
//	go run ./cmd/bnbench          # the kernel set chosen for this CPU
//	go run ./cmd/bnbench -all     # every kernel set this CPU runs, side by side
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/klauspost/cpuid/v2"
	"github.com/simdnorm/bn"
	"github.com/simdnorm/bn/internal/bench"
)

func main() {
	all := flag.Bool("all", false, "measure every kernel set this CPU runs, not only the chosen one")
	shapes := flag.String("shapes", "", "measure only shapes whose name contains this text")
	reps := flag.Int("reps", 5, "timed repetitions per measurement; the median is reported")
	flag.Parse()

	kernels := []string{bn.Kernel()}
	if *all {
		kernels = bn.Kernels()
	}
	fmt.Printf("cpu: %s (%d logical cores, L2 %d KiB)\n", cpuid.CPU.BrandName, cpuid.CPU.LogicalCores, cpuid.CPU.Cache.L2>>10)
	fmt.Printf("kernel sets: %s (available: %s)\n\n", strings.Join(kernels, ", "), strings.Join(bn.Kernels(), ", "))

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "shape\top\tkernel\tµs\tGB/s\t× copy\t")
	for _, c := range bench.Cases {
		if !strings.Contains(c.Name, *shapes) {
			continue
		}
		w := bench.NewWorkspace(c.Shape)
		bytes := float64(4 * c.Shape.Len())
		copyTime := measure(w, bench.Copy, *reps)
		row(tw, c.Name, "copy", "", copyTime, bytes, copyTime)
		for _, op := range bench.Ops {
			for _, k := range kernels {
				if err := bn.UseKernel(k); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				row(tw, c.Name, op.Name, k, measure(w, op, *reps), bytes, copyTime)
			}
		}
	}
	tw.Flush()
}

func row(tw *tabwriter.Writer, shape, op, kernel string, t time.Duration, bytes float64, copyTime time.Duration) {
	fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%.1f\t%.2f\t\n", shape, op, kernel,
		float64(t.Nanoseconds())/1e3, bytes/t.Seconds()/1e9, t.Seconds()/copyTime.Seconds())
}

// measure returns the median time of one call of op over reps repetitions, each long
// enough (about 20 ms) for the clock to resolve it.
func measure(w *bench.Workspace, op bench.Op, reps int) time.Duration {
	call := func() {
		if err := op.Run(w); err != nil {
			fmt.Fprintf(os.Stderr, "%s on %v: %v\n", op.Name, w.Shape, err)
			os.Exit(1)
		}
	}
	call() // warm caches and pools
	n := 1
	for {
		start := time.Now()
		for range n {
			call()
		}
		if time.Since(start) > 20*time.Millisecond {
			break
		}
		n *= 2
	}
	times := make([]time.Duration, max(reps, 1))
	for i := range times {
		start := time.Now()
		for range n {
			call()
		}
		times[i] = time.Since(start) / time.Duration(n)
	}
	slices.Sort(times)
	return times[len(times)/2]
}
