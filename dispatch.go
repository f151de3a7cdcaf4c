package bn

import (
	"fmt"
	"os"
	"sync/atomic"

	"github.com/klauspost/cpuid/v2"
)

// A registration is a kernel set built into this binary and whether this CPU runs it.
type registration struct {
	kernels   *kernelSet
	available bool
}

// registry lists the kernel sets of this build, best first; generic comes last and always
// runs. archKernels is defined per architecture, from golang.org/x/sys/cpu, so that
// GODEBUG=cpu.avx512f=off and the like work as Go users expect.
var registry = append(archKernels(), registration{&genericKernels, true})

var (
	active        atomic.Pointer[kernelSet]
	initialKernel string // the set chosen at init, which BN_REQUIRE_KERNEL checks in tests
)

func init() {
	k := registry[0].kernels
	for _, r := range registry {
		if r.available {
			k = r.kernels
			break
		}
	}
	if name := os.Getenv("BN_KERNEL"); name != "" {
		if r, ok := lookup(name); ok && r.available {
			k = r.kernels
		}
	}
	active.Store(k)
	initialKernel = k.name
}

func activeKernels() *kernelSet { return active.Load() }

func lookup(name string) (registration, bool) {
	for _, r := range registry {
		if r.kernels.name == name {
			return r, true
		}
	}
	return registration{}, false
}

// Kernel names the kernel set in use: "avx512", "avx2", "neon" or "generic".
//
// At init the package picks the best set this CPU runs. The environment variable
// BN_KERNEL=<name> overrides that choice when the named set is available here; otherwise
// it is ignored, and Kernel tells what is in use.
func Kernel() string { return activeKernels().name }

// Kernels lists the kernel sets this CPU can run, best first. The last is "generic", the
// portable Go implementation that every other set is tested against.
func Kernels() []string {
	var names []string
	for _, r := range registry {
		if r.available {
			names = append(names, r.kernels.name)
		}
	}
	return names
}

// UseKernel selects the kernel set named, one of Kernels(). It is safe to call while other
// goroutines run batch norms: each call uses one set from start to end.
func UseKernel(name string) error {
	r, ok := lookup(name)
	if !ok {
		return fmt.Errorf("%w: unknown kernel set %q (this build has %v)", ErrParam, name, builtKernels())
	}
	if !r.available {
		return fmt.Errorf("%w: kernel set %q does not run on this CPU (it runs %v)", ErrParam, name, Kernels())
	}
	active.Store(r.kernels)
	return nil
}

func builtKernels() []string {
	names := make([]string, len(registry))
	for i, r := range registry {
		names[i] = r.kernels.name
	}
	return names
}

// cacheBudget is how many bytes of x Forward expects to find still in cache when it reads
// a tile of channels a second time: half the per-core L2, or 256 KiB when unknown.
var cacheBudget = func() int {
	if l2 := cpuid.CPU.Cache.L2; l2 > 0 {
		return l2 / 2
	}
	return 256 << 10
}()

// lastLevelBudget is how many bytes Forward expects the last-level cache to keep between
// its two passes: half the L3, or 8 MiB when the CPU does not say (as virtual machines
// often do not).
var lastLevelBudget = func() int {
	if l3 := cpuid.CPU.Cache.L3; l3 > 0 {
		return l3 / 2
	}
	return 8 << 20
}()

// blockingBudget is the L2 budget for Forward's passes over x, whose second pass reads
// reread bytes again: none when they fit the last-level budget, where the second pass
// finds them anyway and blocking for the L2 only cuts the first into short streams. On
// NCHW 32×512×7×7 (3.2 MB of x) Forward took 1.75× copy blocked and 1.6× not.
func blockingBudget(reread int) int {
	if reread <= lastLevelBudget {
		return 0
	}
	return cacheBudget
}
