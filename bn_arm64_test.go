//go:build !purego

package bn

import "testing"

// TestNEONLongRunsAndWideTiles extends the kernel parity suite to the shapes where the
// NEON wrappers and assembly change course: runs longer than one float32 chunk (256
// values), and tiles wider than the channels one assembly call takes (neonTile).
func TestNEONLongRunsAndWideTiles(t *testing.T) {
	rng := newRand(3)
	var calls []kernelCall
	for _, w := range []int{255, 256, 257, 271, 512, 529, 1000} {
		calls = append(calls, kernelCall{rows: true, ch: 2, width: w, samples: 2, stride: 3 * w})
	}
	for _, ch := range []int{neonTile - 1, neonTile, neonTile + 1, 2*neonTile + 19} {
		calls = append(calls,
			kernelCall{rows: true, ch: ch, width: 3, samples: 2, stride: ch*3 + 5},
			kernelCall{ch: ch, samples: 70, stride: ch + 2},
		)
	}
	calls = append(calls, kernelCall{ch: 21, samples: 3*colRows + 5, stride: 23})
	for _, call := range calls {
		for _, p := range []placement{{tail: true}, {off: 1}} {
			checkKernels(t, &neonKernels, call, p, rng)
		}
	}
}
