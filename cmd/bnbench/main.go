// Command bnbench measures bn's operations on typical layer shapes and prints, for each,
// the time per call, the throughput in bytes of x per second, and the ratio to a copy()
// of the same bytes measured in the same round: the memory roofline that Infer and
// ScaleShift can at best reach. Each figure is the median over rounds that measure
// everything once, in turn.
//
// Usage:
//
//	go run ./cmd/bnbench          # the kernel set chosen for this CPU
//	go run ./cmd/bnbench -all     # every kernel set this CPU runs, side by side
//
// With -hugepages (Linux) the tensors are placed in 2 MiB pages, which takes out the
// part of the spread between runs that comes from which physical pages a process gets
// (see bench.HugePages).
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
	reps := flag.Int("reps", 10, "rounds of measurement; medians are reported")
	flag.BoolVar(&bench.HugePages, "hugepages", bench.HugePages, "place the tensors in 2 MiB pages (Linux)")
	flag.Parse()

	kernels := []string{bn.Kernel()}
	if *all {
		kernels = bn.Kernels()
	}
	fmt.Printf("cpu: %s (%d logical cores, L2 %d KiB)\n", cpuid.CPU.BrandName, cpuid.CPU.LogicalCores, cpuid.CPU.Cache.L2>>10)
	fmt.Printf("kernel sets: %s (available: %s)\n", strings.Join(kernels, ", "), strings.Join(bn.Kernels(), ", "))
	pages := "the Go heap's"
	if bench.HugePages {
		pages = "2 MiB"
	}
	fmt.Printf("tensors in %s pages\n\n", pages)

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "shape\top\tkernel\tµs\tGB/s\t× copy\t")
	for _, c := range bench.Cases {
		if !strings.Contains(c.Name, *shapes) {
			continue
		}
		w := bench.NewWorkspace(c.Shape)
		bytes := float64(4 * c.Shape.Len())
		ms := []*measurement{{op: bench.Copy}}
		for _, op := range bench.Ops {
			for _, k := range kernels {
				ms = append(ms, &measurement{op: op, kernel: k})
			}
		}
		measureAll(w, ms, *reps)
		w.Release()
		for _, m := range ms {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%.1f\t%.2f\t\n", c.Name, m.op.Name, m.kernel,
				float64(m.time.Nanoseconds())/1e3, bytes/m.time.Seconds()/1e9, m.ratio)
		}
	}
	tw.Flush()
}

// A measurement is one operation with one kernel set ("" for copy) and its results: the
// median time of a call and the median ratio to copy.
type measurement struct {
	op     bench.Op
	kernel string
	calls  int // per timed block, about 20 ms
	time   time.Duration
	ratio  float64
}

// measureAll times ms, ms[0] being copy, in reps rounds that each time every measurement
// once, and takes each ratio to the copy of the same round: the machines this runs on are
// shared, and their speed drifts between rounds more than between neighbouring blocks.
func measureAll(w *bench.Workspace, ms []*measurement, reps int) {
	for _, m := range ms {
		m.calls = 1
		for m.block(w) < 20*time.Millisecond { // warms caches and pools too
			m.calls *= 2
		}
	}
	reps = max(reps, 1)
	times := make([][]time.Duration, len(ms))
	ratios := make([][]float64, len(ms))
	for range reps {
		var copyTime time.Duration
		for i, m := range ms {
			t := m.block(w) / time.Duration(m.calls)
			if i == 0 {
				copyTime = t
			}
			times[i] = append(times[i], t)
			ratios[i] = append(ratios[i], t.Seconds()/copyTime.Seconds())
		}
	}
	for i, m := range ms {
		m.time, m.ratio = median(times[i]), median(ratios[i])
	}
}

// block times m.calls calls of m's operation.
func (m *measurement) block(w *bench.Workspace) time.Duration {
	if m.kernel != "" {
		if err := bn.UseKernel(m.kernel); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	start := time.Now()
	for range m.calls {
		if err := m.op.Run(w); err != nil {
			fmt.Fprintf(os.Stderr, "%s on %v: %v\n", m.op.Name, w.Shape, err)
			os.Exit(1)
		}
	}
	return time.Since(start)
}

func median[T time.Duration | float64](v []T) T {
	slices.Sort(v)
	return v[len(v)/2]
}
