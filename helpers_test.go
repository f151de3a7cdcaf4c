package bn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// forEachKernel runs f as a subtest once per kernel set this CPU runs, with that set
// selected, and restores the set in use afterwards. Every test of results goes through
// it, so a new kernel set is covered the moment it registers.
func forEachKernel(t *testing.T, f func(t *testing.T, k *kernelSet)) {
	t.Helper()
	prev := Kernel()
	defer UseKernel(prev)
	for _, name := range Kernels() {
		r, _ := lookup(name)
		t.Run(name, func(t *testing.T) {
			if err := UseKernel(name); err != nil {
				t.Fatal(err)
			}
			f(t, r.kernels)
		})
	}
}

// simdKernels lists the available kernel sets other than generic.
func simdKernels() []*kernelSet {
	var ks []*kernelSet
	for _, r := range registry {
		if r.available && r.kernels != &genericKernels {
			ks = append(ks, r.kernels)
		}
	}
	return ks
}

// normal fills a new slice with mean + std·N(0, 1) values.
func normal(rng *rand.Rand, n int, mean, std float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(mean + std*rng.NormFloat64())
	}
	return x
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

// ulps is the distance between a and b in units in the last place of float32.
func ulps(a, b float32) int64 {
	if a == b {
		return 0
	}
	if math.IsNaN(float64(a)) || math.IsNaN(float64(b)) {
		return math.MaxInt64
	}
	ia, ib := int64(math.Float32bits(a)), int64(math.Float32bits(b))
	if ia < 0x80000000 != (ib < 0x80000000) {
		return abs64(ia&0x7fffffff) + abs64(ib&0x7fffffff) // across zero
	}
	return abs64(ia - ib)
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// The error measures below return +Inf where the arithmetic gives NaN, so that a NaN
// fails every tolerance test written as err > tol, which a NaN would pass.

// relErr is |got - want| / |want|, or |got| when want is 0.
func relErr(got, want float64) float64 {
	if want == 0 {
		return notNaN(math.Abs(got))
	}
	return notNaN(math.Abs(got-want) / math.Abs(want))
}

// absErr is |got - want|.
func absErr(got, want float64) float64 { return notNaN(math.Abs(got - want)) }

func notNaN(e float64) float64 {
	if math.IsNaN(e) {
		return math.Inf(1)
	}
	return e
}

// normErr is ‖got - want‖ / ‖want‖, the norm-wise relative error of a whole output.
func normErr(got []float32, want []float64) float64 {
	var num, den float64
	for i := range got {
		d := float64(got[i]) - want[i]
		num += d * d
		den += want[i] * want[i]
	}
	if den == 0 {
		return notNaN(math.Sqrt(num))
	}
	return notNaN(math.Sqrt(num / den))
}

// channelOf returns the channel of flat index i in a tensor of shape s.
func channelOf(s Shape, i int) int {
	if s.Layout == ChannelsLast {
		return i % s.C
	}
	return i / s.S % s.C
}

// refMoments is the float64 two-pass reference: per-channel mean and M2.
func refMoments(x []float32, s Shape) (mean, m2 []float64) {
	mean, m2 = make([]float64, s.C), make([]float64, s.C)
	n := float64(s.N * s.S)
	for i, v := range x {
		mean[channelOf(s, i)] += float64(v)
	}
	for c := range mean {
		mean[c] /= n
	}
	for i, v := range x {
		d := float64(v) - mean[channelOf(s, i)]
		m2[channelOf(s, i)] += d * d
	}
	return mean, m2
}

// refForward is the float64 reference of a training-mode forward.
func refForward(x, weight, bias []float32, eps float64, s Shape) []float64 {
	mean, m2 := refMoments(x, s)
	n := float64(s.N * s.S)
	y := make([]float64, len(x))
	for i, v := range x {
		c := channelOf(s, i)
		y[i] = (float64(v)-mean[c])/math.Sqrt(m2[c]/n+eps)*param(weight, c, 1) + param(bias, c, 0)
	}
	return y
}

// refBackward is the float64 reference of the input, weight and bias gradients.
func refBackward(dy, x, weight []float32, eps float64, s Shape) (dx, dw, db []float64) {
	dx, dw, db, _ = refBackwardTerms(dy, x, weight, eps, s)
	return dx, dw, db
}

// refBackwardTerms also returns, for each dx, the sum of the magnitudes of its terms: dx
// cancels (with two values per channel it is zero up to eps), so its rounding is judged
// against its terms, not against itself.
func refBackwardTerms(dy, x, weight []float32, eps float64, s Shape) (dx, dw, db, terms []float64) {
	mean, m2 := refMoments(x, s)
	n := float64(s.N * s.S)
	dw, db = make([]float64, s.C), make([]float64, s.C)
	inv := make([]float64, s.C)
	for c := range inv {
		inv[c] = 1 / math.Sqrt(m2[c]/n+eps)
	}
	for i, v := range x {
		c := channelOf(s, i)
		db[c] += float64(dy[i])
		dw[c] += float64(dy[i]) * (float64(v) - mean[c]) * inv[c]
	}
	dx, terms = make([]float64, len(x)), make([]float64, len(x))
	for i, v := range x {
		c := channelOf(s, i)
		xhat := (float64(v) - mean[c]) * inv[c]
		g := param(weight, c, 1) * inv[c]
		dx[i] = g * (float64(dy[i]) - db[c]/n - xhat*dw[c]/n)
		terms[i] = math.Abs(g) * (math.Abs(float64(dy[i])) + math.Abs(db[c]/n) + math.Abs(xhat*dw[c]/n))
	}
	return dx, dw, db, terms
}

// termErr is the largest |got - want| relative to the magnitude of want's terms.
func termErr(got []float32, want, terms []float64) float64 {
	var worst float64
	for i := range got {
		worst = max(worst, math.Abs(float64(got[i])-want[i])/terms[i])
	}
	return worst
}

func param(p []float32, c int, none float64) float64 {
	if p == nil {
		return none
	}
	return float64(p[c])
}

// testShapes are the shapes the table-driven tests run in every layout: plain matrices,
// odd channel counts, runs shorter and longer than a vector, and tails of every kind.
var testShapes = []Shape{
	{N: 2, C: 3, S: 1},
	{N: 7, C: 1, S: 1},
	{N: 64, C: 17, S: 1},
	{N: 3, C: 300, S: 1},
	{N: 2, C: 5, S: 7},
	{N: 3, C: 4, S: 33},
	{N: 2, C: 19, S: 49},
	{N: 1, C: 3, S: 200},
	{N: 4, C: 70, S: 9},
	{N: 2, C: 2, S: 1031},
	{N: 5, C: 260, S: 3},
	{N: 40, C: 3, S: 7},   // runs short enough to be summed many samples at a time
	{N: 2, C: 1029, S: 2}, // more channels than one tile
}

// bothLayouts returns s in each layout.
func bothLayouts(s Shape) []Shape {
	a, b := s, s
	a.Layout, b.Layout = ChannelsFirst, ChannelsLast
	return []Shape{a, b}
}
