package bn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/simdnorm/bn/internal/guard"
)

// A kernelCall is one call of a kernel on a tile of ch channels: rows (runs of width
// values, samples of them, stride apart) or cols (samples rows of ch values, stride apart).
type kernelCall struct {
	rows                       bool
	ch, width, samples, stride int
}

func (c kernelCall) String() string {
	if c.rows {
		return fmt.Sprintf("rows/ch=%d/width=%d/samples=%d/stride=%d", c.ch, c.width, c.samples, c.stride)
	}
	return fmt.Sprintf("cols/ch=%d/rows=%d/stride=%d", c.ch, c.samples, c.stride)
}

// span is the number of values the call's tensor slices hold.
func (c kernelCall) span() int {
	if c.rows {
		return (c.samples-1)*c.stride + c.ch*c.width
	}
	return (c.samples-1)*c.stride + c.ch
}

// kernelCalls covers every run length (rows) and channel count (cols) from 1 to 130, so
// every vector tail and unrolled remainder of a kernel is hit, plus strides with gaps
// (a tile inside a wider tensor), row counts that cross chunk boundaries, and samples
// 4 KiB apart over several groups (which amd64's short-run reduction walks sample by
// sample).
func kernelCalls() []kernelCall {
	var calls []kernelCall
	for n := 1; n <= 130; n++ {
		calls = append(calls,
			kernelCall{rows: true, ch: 1, width: n, samples: 1, stride: n},
			kernelCall{rows: true, ch: 3, width: n, samples: 2, stride: 5 * n},
			kernelCall{ch: n, samples: 1, stride: n},
			kernelCall{ch: n, samples: 3, stride: n + 3},
			kernelCall{ch: n, samples: 19, stride: n}, // whole rows: lineRows on amd64
			kernelCall{rows: true, ch: 3, width: n, samples: 20, stride: 1024},
		)
	}
	for _, rows := range []int{31, 32, 33, 70} {
		calls = append(calls, kernelCall{ch: 37, samples: rows, stride: 40})
	}
	return calls
}

// placement puts a call's slices in guarded memory: flush against the trailing guard page
// (tail), or right after the leading one at an offset of 0 to 3 values (every alignment
// of a 16-byte vector).
type placement struct {
	tail bool
	off  int
}

var placements = []placement{{tail: true}, {off: 0}, {off: 1}, {off: 2}, {off: 3}}

// guarded hands out slices in guarded regions, one region per slice.
type guarded struct {
	t       *testing.T
	p       placement
	regions []*guard.Region
}

func (g *guarded) region(n int) *guard.Region {
	r, err := guard.New(n + 4)
	if err != nil {
		g.t.Fatal(err)
	}
	g.regions = append(g.regions, r)
	return r
}

// f32 returns a guarded copy of src.
func (g *guarded) f32(src []float32) []float32 {
	r := g.region(len(src))
	var s []float32
	if g.p.tail {
		s = r.Tail(len(src))
	} else {
		s = r.Head(len(src), g.p.off)
	}
	copy(s, src)
	return s
}

// f64 returns a guarded copy of src (flush against the trailing guard page).
func (g *guarded) f64(src []float64) []float64 {
	s := g.region(2 * len(src)).Tail64(len(src))
	copy(s, src)
	return s
}

func (g *guarded) free() {
	for _, r := range g.regions {
		r.Free()
	}
}

// TestKernelParity runs every kernel of every kernel set on guarded memory, for every
// call shape and placement, and compares it with the generic kernel on ordinary memory.
// For generic itself this proves it stays inside its slices.
func TestKernelParity(t *testing.T) {
	rng := newRand(1)
	forEachKernel(t, func(t *testing.T, k *kernelSet) {
		for _, call := range kernelCalls() {
			for _, p := range placements {
				checkKernels(t, k, call, p, rng)
			}
		}
	})
}

// TestKernelParityPrefetched runs the kernels on short runs in a tensor over 2 MB, which
// amd64 sums in the prefetching copies of its short-run loops, unreached by the smaller
// tensors of TestKernelParity: one placement, runs of every vector count of both vector
// widths, whole and with a tail. The stride is not a multiple of 4 KiB, so the reduction
// walks by channel as the moments do.
func TestKernelParityPrefetched(t *testing.T) {
	rng := newRand(2)
	forEachKernel(t, func(t *testing.T, k *kernelSet) {
		for _, n := range []int{1, 7, 8, 9, 16, 17, 24, 25, 32, 33, 40, 41, 48, 49, 56, 57, 63, 64} {
			call := kernelCall{rows: true, ch: 3, width: n, samples: 20, stride: 26640}
			checkKernels(t, k, call, placement{off: 1}, rng)
		}
	})
}

// TestKernelParityBackwards runs the kernels on whole rows of tensors over 64 KB with no
// cache budget, so that amd64's cols gradient walks them in several blocks, last first,
// and its reduction takes rows of more than 256 channels in one call: whole vectors,
// joined rows (40 channels) and a tail, with a partial first block.
func TestKernelParityBackwards(t *testing.T) {
	defer func(b int) { cacheBudget = b }(cacheBudget)
	cacheBudget = 0
	rng := newRand(3)
	forEachKernel(t, func(t *testing.T, k *kernelSet) {
		for _, call := range []kernelCall{
			{ch: 1024, samples: 70, stride: 1024},
			{ch: 1000, samples: 33, stride: 1000},
			{ch: 40, samples: 500, stride: 40},
			{ch: 130, samples: 150, stride: 130},
		} {
			for _, p := range []placement{{tail: true}, {off: 1}} {
				checkKernels(t, k, call, p, rng)
			}
		}
	})
}

// checkKernels runs all of k's kernels for one call and placement against generic.
func checkKernels(t *testing.T, k *kernelSet, call kernelCall, p placement, rng *rand.Rand) {
	t.Helper()
	n := call.span()
	x := make([]float32, n)
	dy := make([]float32, n)
	for i := range x {
		x[i] = float32(3 + 2*rng.NormFloat64())
		dy[i] = float32(rng.NormFloat64())
	}
	perChannel := func(mean, std float64) []float32 {
		v := make([]float32, call.ch)
		for i := range v {
			v[i] = float32(mean + std*rng.NormFloat64())
		}
		return v
	}
	center, scale, shift := perChannel(3, 0.5), perChannel(1, 0.5), perChannel(0, 1)
	gy, gx, g0 := perChannel(1, 0.5), perChannel(0, 0.1), perChannel(0, 0.1)
	name := fmt.Sprintf("%v/%+v", call, p)

	g := &guarded{t: t, p: p}
	defer g.free()

	// Moments, merged in two calls so the second starts from a running state (count > 0).
	wantMean, wantM2 := make([]float64, call.ch), make([]float64, call.ch)
	gotMean, gotM2 := g.f64(wantMean), g.f64(wantM2)
	xs := g.f32(x)
	momentsTwice(&genericKernels, call, wantMean, wantM2, x)
	momentsTwice(k, call, gotMean, gotM2, xs)
	for i := range wantMean {
		std := math.Sqrt(wantM2[i] / float64(2*call.samples*max(call.width, 1)))
		if d := math.Abs(gotMean[i] - wantMean[i]); d > 1e-6*max(math.Abs(wantMean[i]), std) {
			t.Fatalf("%s: moments channel %d: mean %v, generic %v", name, i, gotMean[i], wantMean[i])
		}
		if e := relErr(gotM2[i], wantM2[i]); e > 1e-5 {
			t.Fatalf("%s: moments channel %d: m2 %v, generic %v (rel err %.2g)", name, i, gotM2[i], wantM2[i], e)
		}
	}

	// Normalize, out of place and in place.
	want := make([]float32, n)
	callNormalize(&genericKernels, call, want, x, center, scale, shift)
	cs, ss, hs := g.f32(center), g.f32(scale), g.f32(shift)
	got := g.f32(make([]float32, n))
	callNormalize(k, call, got, xs, cs, ss, hs)
	checkULPs(t, name+": normalize", call, got, want, make([]float32, n))
	inPlace := g.f32(x)
	callNormalize(k, call, inPlace, inPlace, cs, ss, hs)
	checkULPs(t, name+": normalize in place", call, inPlace, want, x)
	// With no center: the scale and shift alone.
	callNormalize(&genericKernels, call, want, x, nil, scale, shift)
	callNormalize(k, call, got, xs, nil, ss, hs)
	checkULPs(t, name+": scale-shift", call, got, want, make([]float32, n))
	inPlace = g.f32(x)
	callNormalize(k, call, inPlace, inPlace, nil, ss, hs)
	checkULPs(t, name+": scale-shift in place", call, inPlace, want, x)

	// Backward reduction, from zeroed sums.
	wantDy, wantDx := make([]float64, call.ch), make([]float64, call.ch)
	callReduce(&genericKernels, call, wantDy, wantDx, dy, x, center)
	gotDy, gotDx := g.f64(make([]float64, call.ch)), g.f64(make([]float64, call.ch))
	dys := g.f32(dy)
	callReduce(k, call, gotDy, gotDx, dys, xs, cs)
	absDy, absDx := make([]float64, call.ch), make([]float64, call.ch)
	callReduceAbs(call, absDy, absDx, dy, x, center)
	for i := range wantDy {
		if d := math.Abs(gotDy[i] - wantDy[i]); d > 1e-5*absDy[i] {
			t.Fatalf("%s: reduce channel %d: Σdy %v, generic %v", name, i, gotDy[i], wantDy[i])
		}
		if d := math.Abs(gotDx[i] - wantDx[i]); d > 1e-5*absDx[i] {
			t.Fatalf("%s: reduce channel %d: Σdy·(x-c) %v, generic %v", name, i, gotDx[i], wantDx[i])
		}
	}

	// Input gradient, out of place and in place over dy.
	callGrad(&genericKernels, call, want, dy, x, center, gy, gx, g0)
	gys, gxs, g0s := g.f32(gy), g.f32(gx), g.f32(g0)
	got = g.f32(make([]float32, n))
	callGrad(k, call, got, dys, xs, cs, gys, gxs, g0s)
	checkGrad(t, name+": grad", call, got, want, dy, x, center, gy, gx, g0, make([]float32, n))
	callGrad(k, call, dys, dys, xs, cs, gys, gxs, g0s)
	checkGrad(t, name+": grad in place", call, dys, want, dy, x, center, gy, gx, g0, dy)

	// 1/σ from M2, out of place and in place: the same bits as generic.
	m2 := make([]float64, call.ch)
	for i := range m2 {
		m2[i] = 100 * math.Abs(rng.NormFloat64())
	}
	m2[0] = 0 // eps alone

	// The finite test of two sums: every channel finite, then one NaN or infinity in
	// either slice, at the first channel, the last (whichever lane of a vector that
	// falls in) and one between, and two infinities that cancel into a NaN.
	sums := make([]float64, call.ch)
	for i := range sums {
		sums[i] = 1e30 * rng.NormFloat64()
	}
	if !genericKernels.finite(sums, m2) || !k.finite(g.f64(sums), g.f64(m2)) {
		t.Fatalf("%s: finite: false for finite sums", name)
	}
	inf := math.Inf(1)
	for _, c := range []struct{ a, b float64 }{{math.NaN(), 0}, {0, inf}, {-inf, 1}, {inf, -inf}} {
		for _, at := range []int{0, call.ch / 2, call.ch - 1} {
			a, b := slices.Clone(sums), slices.Clone(m2)
			a[at], b[at] = c.a, c.b
			if genericKernels.finite(a, b) || k.finite(g.f64(a), g.f64(b)) {
				t.Fatalf("%s: finite: true with %v + %v at channel %d", name, c.a, c.b, at)
			}
		}
	}
	const inv, eps = 1.0 / 7, 1e-5
	wantInv := make([]float64, call.ch)
	genericKernels.invStd(wantInv, m2, inv, eps)
	m2s := g.f64(m2)
	gotInv := g.f64(make([]float64, call.ch))
	k.invStd(gotInv, m2s, inv, eps)
	k.invStd(m2s, m2s, inv, eps)
	for i := range wantInv {
		if gotInv[i] != wantInv[i] || m2s[i] != wantInv[i] {
			t.Fatalf("%s: invStd channel %d: %v (in place %v), generic %v", name, i, gotInv[i], m2s[i], wantInv[i])
		}
	}

	// Center, scale and shift from float64 means that float32 cannot hold, with M2 of 0
	// (a constant channel) in channel 0: at limits that fold every other channel whole,
	// none, and about half. The same bits as generic, and each channel whole or not as
	// foldsWhole says.
	means := make([]float64, call.ch)
	dist := make([]float64, call.ch)
	for i := range means {
		means[i] = 1e4 * rng.NormFloat64()
		dist[i] = math.Abs(means[i] * wantInv[i])
	}
	slices.Sort(dist)
	f32s := func() [3][]float32 {
		return [3][]float32{g.f32(make([]float32, call.ch)), g.f32(make([]float32, call.ch)), g.f32(make([]float32, call.ch))}
	}
	wantFold, gotFold := f32s(), f32s()
	wholeScale, wholeShift := g.f32(make([]float32, call.ch)), g.f32(make([]float32, call.ch))
	for _, limit := range []float64{math.Inf(1), 0, dist[call.ch/2]} {
		genericKernels.fold(wantFold[0], wantFold[1], wantFold[2], means, wantInv, m2, scale, shift, limit)
		k.fold(gotFold[0], gotFold[1], gotFold[2], g.f64(means), g.f64(wantInv), g.f64(m2), g.f32(scale), g.f32(shift), limit)
		genericKernels.foldWhole(wholeScale, wholeShift, means, wantInv, m2, scale, shift, limit)
		for j, what := range []string{"center", "scale", "shift"} {
			for i := range wantFold[j] {
				if math.Float32bits(gotFold[j][i]) != math.Float32bits(wantFold[j][i]) {
					t.Fatalf("%s: fold limit %g channel %d: %s %v, generic %v", name, limit, i, what, gotFold[j][i], wantFold[j][i])
				}
			}
		}
		for i, m := range means {
			c, sh := wantFold[0][i], wantFold[2][i]
			if whole := foldsWhole(m, wantInv[i], m2[i], limit); whole && (c != 0 || sh != wholeShift[i]) || !whole && c != float32(m) {
				t.Fatalf("%s: fold limit %g channel %d (whole %v): center %v shift %v, foldWhole's shift %v", name, limit, i, whole, c, sh, wholeShift[i])
			}
		}
	}
	// foldWhole, and its test of the limit and of M2: every channel within it, none, all
	// but the last (whichever lane of a vector that falls in), the last NaN, and every
	// channel within but the constant first.
	within := 0.0
	for i, m := range means[:call.ch-1] {
		within = max(within, math.Abs(m*wantInv[i]))
	}
	last := means[call.ch-1]
	varied := nonzero[:call.ch]
	for _, c := range []struct {
		limit, last float64
		m2          []float64
		want        bool
		others      bool // the case needs channels before the last
	}{
		{math.Inf(1), last, varied, true, false},
		{0, last, varied, false, false},
		{within, 2 * within / wantInv[call.ch-1], varied, false, true},
		{math.Inf(1), math.NaN(), varied, false, false},
		{math.Inf(1), last, m2, false, false},
	} {
		if c.others && call.ch == 1 {
			continue
		}
		means[call.ch-1] = c.last
		wantWithin := genericKernels.foldWhole(wantFold[1], wantFold[2], means, wantInv, c.m2, scale, shift, c.limit)
		gotWithin := k.foldWhole(gotFold[1], gotFold[2], g.f64(means), g.f64(wantInv), g.f64(c.m2), g.f32(scale), g.f32(shift), c.limit)
		if gotWithin != c.want || wantWithin != c.want {
			t.Fatalf("%s: foldWhole within %g: %v, generic %v, want %v", name, c.limit, gotWithin, wantWithin, c.want)
		}
		for j, what := range []string{"scale", "shift"} {
			for i := range wantFold[j+1] {
				if math.Float32bits(gotFold[j+1][i]) != math.Float32bits(wantFold[j+1][i]) {
					t.Fatalf("%s: foldWhole channel %d: %s %v, generic %v", name, i, what, gotFold[j+1][i], wantFold[j+1][i])
				}
			}
		}
	}
	means[call.ch-1] = last
	checkChannelKernels(t, k, name, g, means, wantInv, scale, rng)
}

// checkChannelKernels runs save, track, widen, narrow and gradCoefficients on guarded
// memory and checks them against generic to the bit: means that float32 cannot hold,
// their 1/σ, and weights.
func checkChannelKernels(t *testing.T, k *kernelSet, name string, g *guarded, means, invStds []float64, weight []float32, rng *rand.Rand) {
	t.Helper()
	n := len(means)
	same := func(what string, got, want []float32) {
		t.Helper()
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s: %s channel %d: %v, generic %v", name, what, i, got[i], want[i])
			}
		}
	}
	fresh := func() []float32 { return g.f32(make([]float32, n)) }

	want := [3][]float32{make([]float32, n), make([]float32, n), make([]float32, n)}
	genericKernels.save(want[0], want[1], want[2], means, invStds)
	got := [3][]float32{fresh(), fresh(), fresh()}
	k.save(got[0], got[1], got[2], g.f64(means), g.f64(invStds))
	for j, what := range []string{"save center", "save residual", "save inv"} {
		same(what, got[j], want[j])
	}

	m2 := make([]float64, n)
	runMean, runVar := make([]float32, n), make([]float32, n)
	for i := range m2 {
		m2[i] = 1e3 * math.Abs(rng.NormFloat64())
		runMean[i], runVar[i] = float32(rng.NormFloat64()), float32(math.Abs(rng.NormFloat64()))
	}
	wantMean, wantVar := append([]float32(nil), runMean...), append([]float32(nil), runVar...)
	genericKernels.track(wantMean, wantVar, means, m2, 0.1, 1.0/7)
	gotMean, gotVar := g.f32(runMean), g.f32(runVar)
	k.track(gotMean, gotVar, g.f64(means), g.f64(m2), 0.1, 1.0/7)
	same("track mean", gotMean, wantMean)
	same("track var", gotVar, wantVar)

	wide := g.f64(make([]float64, n))
	k.widen(wide, g.f32(runVar))
	for i, v := range runVar {
		if wide[i] != float64(v) {
			t.Fatalf("%s: widen channel %d: %v, want %v", name, i, wide[i], v)
		}
	}

	for _, scale := range []float64{1, 1.0 / 7} {
		narrowed := fresh()
		k.narrow(narrowed, g.f64(means), scale)
		for i, m := range means {
			if want := float32(m * scale); math.Float32bits(narrowed[i]) != math.Float32bits(want) {
				t.Fatalf("%s: narrow channel %d by %g: %v, want %v", name, i, scale, narrowed[i], want)
			}
		}
	}

	// Backward's coefficients, with and without dWeight and dBias.
	sumDy, sumDyXc := make([]float64, n), make([]float64, n)
	lo := make([]float32, n)
	for i := range sumDy {
		sumDy[i], sumDyXc[i] = 100*rng.NormFloat64(), 1e4*rng.NormFloat64()
		lo[i] = want[1][i] // the residuals save left
	}
	inv32 := want[2]
	const invM = 1.0 / 96
	wantC := [5][]float32{make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)}
	wantXc := append([]float64(nil), sumDyXc...)
	genericKernels.gradCoefficients(wantC[0], wantC[1], wantC[2], wantC[3], wantC[4], sumDy, wantXc, inv32, weight, lo, invM)
	for _, outputs := range []bool{true, false} {
		gotC := [5][]float32{fresh(), fresh(), fresh()}
		if outputs {
			gotC[3], gotC[4] = fresh(), fresh()
		}
		gotXc := g.f64(sumDyXc)
		k.gradCoefficients(gotC[0], gotC[1], gotC[2], gotC[3], gotC[4], g.f64(sumDy), gotXc, g.f32(inv32), g.f32(weight), g.f32(lo), invM)
		for i := range wantXc {
			if gotXc[i] != wantXc[i] {
				t.Fatalf("%s: gradCoefficients channel %d: Σdy·(x-mean) %v, generic %v", name, i, gotXc[i], wantXc[i])
			}
		}
		for j, what := range []string{"gy", "gx", "g0", "dWeight", "dBias"} {
			if gotC[j] != nil {
				same("gradCoefficients "+what, gotC[j], wantC[j])
			}
		}
	}
}

// momentsTwice merges x into (mean, m2) twice: once from nothing, once on top.
func momentsTwice(k *kernelSet, call kernelCall, mean, m2 []float64, x []float32) {
	if call.rows {
		k.momentsRows(mean, m2, 0, x, call.width, call.samples, call.stride)
		k.momentsRows(mean, m2, call.samples*call.width, x, call.width, call.samples, call.stride)
	} else {
		k.momentsCols(mean, m2, 0, x, call.samples, call.stride)
		k.momentsCols(mean, m2, call.samples, x, call.samples, call.stride)
	}
}

func callNormalize(k *kernelSet, call kernelCall, y, x, center, scale, shift []float32) {
	if call.rows {
		k.normalizeRows(y, x, center, scale, shift, call.width, call.samples, call.stride)
	} else {
		k.normalizeCols(y, x, center, scale, shift, call.samples, call.stride)
	}
}

func callReduce(k *kernelSet, call kernelCall, sumDy, sumDyXc []float64, dy, x, center []float32) {
	if call.rows {
		k.reduceRows(sumDy, sumDyXc, dy, x, center, call.width, call.samples, call.stride)
	} else {
		k.reduceCols(sumDy, sumDyXc, 0, dy, x, center, call.samples, call.stride)
	}
}

func callGrad(k *kernelSet, call kernelCall, dx, dy, x, center, gy, gx, g0 []float32) {
	if call.rows {
		k.gradRows(dx, dy, x, center, gy, gx, g0, call.width, call.samples, call.stride)
	} else {
		k.gradCols(dx, dy, x, center, gy, gx, g0, call.samples, call.stride)
	}
}

// eachValue calls f with the channel and flat index of every value a call covers.
func eachValue(call kernelCall, f func(c, i int)) {
	for j := range call.samples {
		for c := range call.ch {
			if call.rows {
				for t := range call.width {
					f(c, j*call.stride+c*call.width+t)
				}
			} else {
				f(c, j*call.stride+c)
			}
		}
	}
}

// callReduceAbs sums |dy| and |dy·(x-c)|: the scale against which rounding is judged.
func callReduceAbs(call kernelCall, absDy, absDx []float64, dy, x, center []float32) {
	eachValue(call, func(c, i int) {
		absDy[c] += math.Abs(float64(dy[i]))
		absDx[c] += math.Abs(float64(dy[i]) * float64(x[i]-center[c]))
	})
}

// checkULPs compares the values a call writes within one ulp of generic's, and requires
// the values between a tile's runs or rows, which it must not write, to equal before.
func checkULPs(t *testing.T, name string, call kernelCall, got, want, before []float32) {
	t.Helper()
	covered := make([]bool, len(got))
	eachValue(call, func(_, i int) {
		covered[i] = true
		if u := ulps(got[i], want[i]); u > 1 {
			t.Fatalf("%s: [%d] = %v, generic %v (%d ulps)", name, i, got[i], want[i], u)
		}
	})
	for i, was := range before {
		if !covered[i] && math.Float32bits(got[i]) != math.Float32bits(was) {
			t.Fatalf("%s: [%d] outside the tile was written: %v, was %v", name, i, got[i], was)
		}
	}
}

// checkGrad compares dx values only where the call writes them, within a few roundings
// of the magnitude of their terms (the terms can cancel, so ulps of dx itself mislead).
func checkGrad(t *testing.T, name string, call kernelCall, got, want, dy, x, center, gy, gx, g0, before []float32) {
	t.Helper()
	covered := make([]bool, len(got))
	defer func() {
		for i, was := range before {
			if !covered[i] && math.Float32bits(got[i]) != math.Float32bits(was) {
				t.Fatalf("%s: [%d] outside the tile was written: %v, was %v", name, i, got[i], was)
			}
		}
	}()
	eachValue(call, func(c, i int) {
		covered[i] = true
		terms := math.Abs(float64(x[i]-center[c])*float64(gx[c])) + math.Abs(float64(dy[i])*float64(gy[c])) + math.Abs(float64(g0[c]))
		if d := math.Abs(float64(got[i]) - float64(want[i])); d > 4*0x1p-24*terms {
			t.Fatalf("%s: [%d] = %v, generic %v", name, i, got[i], want[i])
		}
	})
}

// TestSplitInvariance checks that each kernel set gives the same bits however the work
// is split: channels at any point, samples (rows) at multiples of sampleGroup, and rows
// (cols) at multiples of momentsChunk (moments) or reduceChunk (reductions).
func TestSplitInvariance(t *testing.T) {
	rng := newRand(2)
	forEachKernel(t, func(t *testing.T, k *kernelSet) {
		// 100 channels take amd64's wide cols form, 21 its narrow one; samples 4 KiB
		// apart, its short-run form walking sample by sample.
		for _, s := range []Shape{{N: 15, C: 5, S: 37}, {N: 40, C: 64, S: 16}, {N: 5, C: 3, S: 200}, {N: 100, C: 21, S: 1}, {N: 70, C: 100, S: 1}} {
			s := s
			x := normal(rng, s.Len(), 5, 2)
			p := newPlan(s, 0)
			whole := &stats{mean: make([]float64, s.C), m2: make([]float64, s.C), count: p.count}
			p.moments(k, whole, x, 0, s.C)

			// Channels split one by one.
			for c := range s.C {
				one := &stats{mean: make([]float64, 1), m2: make([]float64, 1)}
				p.moments(k, one, x, c, c+1)
				if one.mean[0] != whole.mean[c] || one.m2[0] != whole.m2[c] {
					t.Errorf("%v: channel %d alone gives (%v, %v), with the others (%v, %v)",
						s, c, one.mean[0], one.m2[0], whole.mean[c], whole.m2[c])
				}
			}

			// The batch split in two, the second call continuing from the first.
			mean, m2 := make([]float64, s.C), make([]float64, s.C)
			if p.rows {
				g := sampleGroup(s.S)
				cut := max(s.N/2/g, 1) * g
				k.momentsRows(mean, m2, 0, x[:cut*p.stride], p.width, cut, p.stride)
				k.momentsRows(mean, m2, cut*s.S, x[cut*p.stride:], p.width, s.N-cut, p.stride)
			} else {
				cut := momentsChunk
				k.momentsCols(mean, m2, 0, x[:cut*p.stride], cut, p.stride)
				k.momentsCols(mean, m2, cut, x[cut*p.stride:], p.samples-cut, p.stride)
			}
			for c := range s.C {
				if mean[c] != whole.mean[c] || m2[c] != whole.m2[c] {
					t.Errorf("%v: channel %d split by batch gives (%v, %v), whole (%v, %v)",
						s, c, mean[c], m2[c], whole.mean[c], whole.m2[c])
				}
			}

			// The cols reductions split at reduceChunk rows, which also holds the
			// assembly's chunk to the Go side's.
			if !p.rows {
				dy := normal(rng, s.Len(), 0, 1)
				center := normal(rng, s.C, 5, 1)
				d1, d2 := make([]float64, s.C), make([]float64, s.C)
				k.reduceCols(d1, d2, 0, dy, x, center, p.samples, p.stride)
				e1, e2 := make([]float64, s.C), make([]float64, s.C)
				cut := reduceChunk
				k.reduceCols(e1, e2, 0, dy[:cut*p.stride], x[:cut*p.stride], center, cut, p.stride)
				k.reduceCols(e1, e2, cut, dy[cut*p.stride:], x[cut*p.stride:], center, p.samples-cut, p.stride)
				for c := range s.C {
					if e1[c] != d1[c] || e2[c] != d2[c] {
						t.Errorf("%v: channel %d reduced split by batch gives (%v, %v), whole (%v, %v)",
							s, c, e1[c], e2[c], d1[c], d2[c])
					}
				}
			}
		}
	})
}

// TestGuardedAPI runs every public call on guarded memory for all small shapes (N up to 3,
// C up to 5, S up to 9, both layouts): the API must slice exactly what each tile needs.
func TestGuardedAPI(t *testing.T) {
	rng := newRand(15)
	forEachKernel(t, func(t *testing.T, _ *kernelSet) {
		for _, p := range placements[:2] {
			for n := 1; n <= 3; n++ {
				for c := 1; c <= 5; c++ {
					for sp := 1; sp <= 9; sp++ {
						for _, s := range bothLayouts(Shape{N: n, C: c, S: sp}) {
							guardedCalls(t, s, p, rng)
						}
					}
				}
			}
		}
	})
}

func guardedCalls(t *testing.T, s Shape, p placement, rng *rand.Rand) {
	g := &guarded{t: t, p: p}
	defer g.free()
	x, dy := g.f32(normal(rng, s.Len(), 1, 2)), g.f32(normal(rng, s.Len(), 0, 1))
	y, dx := g.f32(make([]float32, s.Len())), g.f32(make([]float32, s.Len()))
	perC := func() []float32 { return g.f32(normal(rng, s.C, 1, 0.2)) }
	l := &BatchNorm{Eps: 1e-5, Momentum: 0.1, Weight: perC(), Bias: perC(), RunningMean: perC(), RunningVar: perC()}
	saved := Saved{Mean: perC(), InvStd: perC()}
	dw, db := perC(), perC()
	check := func(name string, err error) {
		if err != nil {
			t.Fatalf("%v %s: %v", s, name, err)
		}
	}
	check("Moments", Moments(dw, db, x, s))
	check("ScaleShift", ScaleShift(y, x, l.Weight, l.Bias, s))
	check("Infer", l.Infer(y, x, s))
	if s.N*s.S > 1 {
		check("Forward", l.Forward(y, x, s, &saved))
		check("Backward", l.Backward(dx, dw, db, dy, x, s, &saved))
		l.RunningMean, l.RunningVar = nil, nil
		check("Infer untracked", l.Infer(y, x, s))
	}
}
