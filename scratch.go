package bn

import "sync"

// scratch holds the per-channel working values of one call for one tile of channels.
// Calls take it from a pool, so they allocate nothing in steady state and stay safe for
// concurrent use. (Stack arrays would escape: kernels are called through func values.)
type scratch struct {
	mean, m2, sum1, sum2 [maxTile]float64
	invStd               [maxTile]float64
	center, scale, shift [maxTile]float32
	gy, gx, g0           [maxTile]float32
	st                   stats
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func getScratch() *scratch  { return scratchPool.Get().(*scratch) }
func putScratch(s *scratch) { scratchPool.Put(s) }

// foldLimit is how many standard deviations from zero a channel's mean may lie for fold
// to move all of it into the shift, y = x·scale + (β - mean·scale). The shift then
// carries one rounding of a value up to |β| + foldLimit·|γ|, about what subtracting the
// mean costs a value foldLimit standard deviations from it; farther out, folding would
// cost the outputs more, up to all of their digits. A tile whose channels all fold takes
// the scale-shift kernels: one FMA and two parameters a vector against a subtraction, an
// FMA and three.
const foldLimit = 4

// fold sets the scale and shift of a tile from its means, 1/σ, γ and β, and returns the
// center to normalize with. A channel whose mean lies within foldLimit standard
// deviations of zero has the whole mean in its shift (kernelSet.foldWhole) and a center
// of 0; any other the mean rounded to float32 as its center, so that x - center is exact
// for values near the mean, and the part the rounding dropped in its shift
// (kernelSet.fold). Without that split, a mean 1e4 times the spread would cost about 1e-3
// of relative accuracy. So does a constant channel (an m2 of 0; running statistics
// come with a nil m2), so that it normalizes to exactly β. The center is nil when every
// channel folds whole. Either way a channel's outputs do not depend on its neighbors'.
func (sc *scratch) fold(k *kernelSet, mean, m2, invStds []float64, weight, bias []float32) []float32 {
	n := len(invStds)
	mean = mean[:n]
	if m2 == nil {
		m2 = nonzero[:n] // running statistics: no channel counts as constant
	}
	m2 = m2[:n]
	center, scale, shift := sc.center[:n], sc.scale[:n], sc.shift[:n]
	if k.foldWhole(scale, shift, mean, invStds, m2, weight, bias, foldLimit) {
		return nil
	}
	k.fold(center, scale, shift, mean, invStds, m2, weight, bias, foldLimit)
	return center
}

// zeros and ones stand for a nil center and for a nil Bias or Weight, nonzero for the
// M2 of running statistics. Nothing writes them.
var (
	zeros   [maxTile]float32
	ones    = filled[float32](1)
	nonzero = filled[float64](1)
)

func filled[T float32 | float64](v T) (a [maxTile]T) {
	for i := range a {
		a[i] = v
	}
	return a
}

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
