package bn

import "math"

// A plan maps a tensor's channels onto the kernels. The API functions walk the channels
// in tiles of plan.tile and leave every loop over values to the kernels.
type plan struct {
	rows    bool // rows kernels (runs of width values) rather than cols kernels
	width   int  // rows: values in one run, S
	samples int  // rows: runs per channel, N; cols: rows, N·S
	stride  int  // rows: distance between a channel's runs, C·S; cols: between rows, C
	count   int  // values per channel, N·S
	tile    int  // channels per kernel call
}

// maxTile bounds a tile by the per-channel scratch the API keeps (see scratch). It is
// large because a cols tile narrower than the rows is a strided slice of each row:
// normalizing NHWC 32×512×7×7 in one tile rather than two of 256 channels took Infer
// from 1.1× to 0.75× copy (avx512).
const maxTile = 1024

// newPlan chooses the kernels for s and the tile: the most channels that fit maxTile and,
// for rows when budget > 0 and a channel fits, whose values fit budget bytes so that a
// second pass over the tile hits cache. A channels-first tensor with S = 1 is a plain
// [N][C] matrix, so it runs as cols.
func newPlan(s Shape, budget int) plan {
	p := plan{rows: s.Layout == ChannelsFirst && s.S > 1, count: s.N * s.S, tile: maxTile}
	if p.rows {
		p.width, p.samples, p.stride = s.S, s.N, s.C*s.S
	} else {
		p.samples, p.stride = s.N*s.S, s.C
	}
	// Cache blocking pays only for rows: a cols tile is a narrow, strided slice of every
	// row, which the hardware prefetchers follow poorly. Measured on NHWC 32×512×7×7
	// (avx512): 80-channel tiles gave Forward 2.35× and Backward 5.5× copy, whole rows
	// 2.0× and 3.1×.
	// A channel larger than the budget is not blocked at all: the second pass would miss
	// anyway, and one channel's runs are short streams far apart, slower to read than
	// whole samples (Backward on NCHW 32×64×56×56, 802 KB of x and dy a channel: 3.6 ms
	// one channel at a time, 2.7 ms unblocked).
	if budget > 0 && p.count > 0 && p.rows && 4*p.count <= budget {
		p.tile = min(budget/(4*p.count), maxTile)
	}
	return p
}

// span is the part of a tensor that channels [c0, c1) occupy.
func (p plan) span(x []float32, c0, c1 int) []float32 {
	if p.samples == 0 {
		return x[:0]
	}
	if p.rows {
		return x[c0*p.width : (p.samples-1)*p.stride+c1*p.width]
	}
	return x[c0 : (p.samples-1)*p.stride+c1]
}

// moments fills st with the moments of channels [c0, c1). A channel whose kernel result
// is not finite is summed again exactly in float64: that tells an overflow of the float32
// chunk sums (|x| beyond about 1e19) from a NaN or infinity in the data, which makes the
// channel's statistics NaN.
func (p plan) moments(k *kernelSet, st *stats, x []float32, c0, c1 int) {
	clear(st.mean)
	clear(st.m2)
	st.setCount(p.count)
	xs := p.span(x, c0, c1)
	if p.rows {
		k.momentsRows(st.mean, st.m2, 0, xs, p.width, p.samples, p.stride)
	} else {
		k.momentsCols(st.mean, st.m2, 0, xs, p.samples, p.stride)
	}
	mean, m2 := st.mean, st.m2[:len(st.mean)]
	if k.finite(mean, m2) {
		return
	}
	for i := range mean {
		if isFinite(mean[i] + m2[i]) { // one test for both (see isFinite)
			continue
		}
		mean[i], m2[i] = p.exactMoments(x, c0+i)
	}
}

// values calls f with every value of channel c, in order.
func (p plan) values(x []float32, c int, f func(i int, v float32)) {
	for j := range p.samples {
		if p.rows {
			off := j*p.stride + c*p.width
			for t, v := range x[off : off+p.width] {
				f(off+t, v)
			}
		} else {
			off := j*p.stride + c
			f(off, x[off])
		}
	}
}

// exactMoments is the slow, exact path: two passes in float64. It returns NaN for both
// when the channel holds a NaN or an infinity.
func (p plan) exactMoments(x []float32, c int) (mean, m2 float64) {
	var sum float64
	p.values(x, c, func(_ int, v float32) { sum += float64(v) })
	mean = sum / float64(p.count)
	p.values(x, c, func(_ int, v float32) { d := float64(v) - mean; m2 += d * d })
	if !isFinite(mean) || !isFinite(m2) {
		return math.NaN(), math.NaN()
	}
	return mean, m2
}

// normalize writes y = (x - center)*scale + shift for channels [c0, c1); the per-channel
// slices hold the tile's c1-c0 values.
func (p plan) normalize(k *kernelSet, y, x, center, scale, shift []float32, c0, c1 int) {
	if p.samples == 0 {
		return
	}
	ys, xs := p.span(y, c0, c1), p.span(x, c0, c1)
	if p.rows {
		k.normalizeRows(ys, xs, center, scale, shift, p.width, p.samples, p.stride)
	} else {
		k.normalizeCols(ys, xs, center, scale, shift, p.samples, p.stride)
	}
}

// normalizeAll is normalize over every channel, tile by tile: the per-channel slices hold
// all C values, and center may be nil.
func (p plan) normalizeAll(k *kernelSet, y, x, center, scale, shift []float32) {
	for c0 := 0; c0 < len(scale); c0 += p.tile {
		c1 := min(c0+p.tile, len(scale))
		var tc []float32
		if center != nil {
			tc = center[c0:c1]
		}
		p.normalize(k, y, x, tc, scale[c0:c1], shift[c0:c1], c0, c1)
	}
}

// reduce sets sumDy and sumDyXc to Σdy and Σdy·(x - center) over channels [c0, c1). A
// channel whose sums are not finite is summed again in float64, in case the float32 chunk
// sums overflowed.
func (p plan) reduce(k *kernelSet, sumDy, sumDyXc []float64, dy, x, center []float32, c0, c1 int) {
	clear(sumDy)
	clear(sumDyXc)
	dys, xs := p.span(dy, c0, c1), p.span(x, c0, c1)
	if p.rows {
		k.reduceRows(sumDy, sumDyXc, dys, xs, center, p.width, p.samples, p.stride)
	} else {
		k.reduceCols(sumDy, sumDyXc, 0, dys, xs, center, p.samples, p.stride)
	}
	sumDyXc = sumDyXc[:len(sumDy)]
	if k.finite(sumDy, sumDyXc) {
		return
	}
	for i := range sumDy {
		if isFinite(sumDy[i] + sumDyXc[i]) { // one test for both (see isFinite)
			continue
		}
		var a, b float64
		c := float64(center[i])
		p.values(x, c0+i, func(at int, v float32) {
			g := float64(dy[at])
			a += g
			b += g * (float64(v) - c)
		})
		sumDy[i], sumDyXc[i] = a, b
	}
}

// grad writes dx = (x - center)*gx + dy*gy + g0 for channels [c0, c1).
func (p plan) grad(k *kernelSet, dx, dy, x, center, gy, gx, g0 []float32, c0, c1 int) {
	dxs, dys, xs := p.span(dx, c0, c1), p.span(dy, c0, c1), p.span(x, c0, c1)
	if p.rows {
		k.gradRows(dxs, dys, xs, center, gy, gx, g0, p.width, p.samples, p.stride)
	} else {
		k.gradCols(dxs, dys, xs, center, gy, gx, g0, p.samples, p.stride)
	}
}

// isFinite tells whether f is neither NaN nor infinite: f - f is NaN for those, else 0.
// One subtraction, where math.IsNaN and math.IsInf took a third of Forward's time on
// NC 2×1024, checked for every channel. The callers test a channel's two sums at once:
// a + b is finite only when a and b are, since from float32 data neither sum comes near
// enough to 1.8e308 to overflow when added. One test for two saved 300 ns a call on
// NC 2×1024 (Moments 2600 → 2260 ns); kernelSet.finite, testing a tile at once, took
// Moments there from 3.2 to 2.3 µs, so the loop over channels runs only for a tile that
// holds a channel to sum again.
func isFinite(f float64) bool { return f-f == 0 }
