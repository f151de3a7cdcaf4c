package bn

import (
	"math"
	"sync"
)

// scratch holds the per-channel working values of one call for one tile of channels.
// Calls take it from a pool, so they allocate nothing in steady state and stay safe for
// concurrent use. (Stack arrays would escape: kernels are called through func values.)
type scratch struct {
	mean, m2, sum1, sum2 [maxTile]float64
	invStd               [maxTile]float64
	center, scale, shift [maxTile]float32
	whole                [maxTile]float32 // foldNear's shifts
	gy, gx, g0           [maxTile]float32
	st                   stats
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func getScratch() *scratch  { return scratchPool.Get().(*scratch) }
func putScratch(s *scratch) { scratchPool.Put(s) }

// fold sets the center, scale and shift of a tile from its means, 1/σ, γ and β (see
// kernelSet.fold). The center is the mean rounded to float32, so x - center is exact for
// values near the mean; the part the rounding dropped moves into the shift. Without that
// split, a mean 1e4 times the spread would cost about 1e-3 of relative accuracy.
func (sc *scratch) fold(k *kernelSet, mean, invStds []float64, weight, bias []float32) {
	n := len(invStds)
	k.fold(sc.center[:n], sc.scale[:n], sc.shift[:n], mean, invStds, weight, bias)
}

// foldLimit is how many standard deviations from zero a channel's mean may lie for
// foldNear to move all of it into the shift, y = x·scale + (β - mean·scale). The shift
// then carries one rounding of a value up to |β| + foldLimit·|γ|, about what subtracting
// the mean costs a value foldLimit standard deviations from it; farther out, folding would
// cost the outputs more, up to all of their digits. A tile whose channels all fold takes
// the scale-shift kernels: one FMA and two parameters a vector against a subtraction, an
// FMA and three.
const foldLimit = 4

// foldNear moves, after fold, the whole mean into the shift (kernelSet.foldWhole) of every
// channel whose mean lies within foldLimit standard deviations of zero, leaving it a
// center of 0, and returns the center to normalize with: nil when that was every
// channel. Each channel's outputs are then the same whatever its neighbors' means.
func (sc *scratch) foldNear(k *kernelSet, mean, invStds []float64, weight, bias []float32) []float32 {
	n := len(invStds)
	center, shift, whole := sc.center[:n], sc.shift[:n], sc.whole[:n]
	k.foldWhole(sc.scale[:n], whole, mean, invStds, weight, bias)
	all := true
	for i, m := range mean[:n] {
		if math.Abs(m)*invStds[i] <= foldLimit {
			center[i], shift[i] = 0, whole[i]
		} else {
			all = false
		}
	}
	if all {
		return nil
	}
	return center
}

// zeros and ones stand for a nil center and for a nil Bias or Weight. Nothing writes
// them.
var (
	zeros [maxTile]float32
	ones  = func() (a [maxTile]float32) {
		for i := range a {
			a[i] = 1
		}
		return a
	}()
)

// stats are the moments of a tile's channels: mean and M2 (the sum of squared
// deviations) over count values each.
type stats struct {
	mean, m2 []float64
	count    int
	// 1/count and 1/(count-1), set with count: the variances for a thousand channels
	// took two divisions each, a sixth of Forward's time on NC 256×1024.
	inv, invUnbiased float64
}

// setCount sets the count of values and its reciprocals.
func (st *stats) setCount(n int) {
	st.count = n
	st.inv, st.invUnbiased = 1/float64(n), 1/float64(n-1)
}

// stats returns the scratch's stats sized for n channels.
func (s *scratch) stats(n int) *stats {
	s.st = stats{mean: s.mean[:n], m2: s.m2[:n]}
	return &s.st
}

// variance is channel i's biased variance, M2/count, as normalization uses it.
func (st *stats) variance(i int) float64 { return st.m2[i] * st.inv }
