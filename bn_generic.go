package bn

import "math"

// The generic kernels: portable Go, the oracle every SIMD kernel is tested against.
//
// Rounding is pinned so that amd64 and arm64 give the same bits: Go may fuse a*b+c into
// one FMA on arm64 but not on amd64, so every product is either rounded explicitly with
// float32(...) or formed in float64, where the product of two float32 values is exact and
// fusing changes nothing.

var genericKernels = kernelSet{
	name:          "generic",
	momentsRows:   momentsRowsGeneric,
	momentsCols:   momentsColsGeneric,
	normalizeRows: normalizeRowsGeneric,
	normalizeCols: normalizeColsGeneric,
	reduceRows:    reduceRowsGeneric,
	reduceCols:    reduceColsGeneric,
	gradRows:      gradRowsGeneric,
	gradCols:      gradColsGeneric,
	finite:        finiteGeneric,
	invStd:        invStdGeneric,
	fold:          foldGeneric,
	foldWhole:     foldWholeGeneric,

	save:             saveGeneric,
	track:            trackGeneric,
	widen:            widenGeneric,
	narrow:           narrowGeneric,
	gradCoefficients: gradCoefficientsGeneric,
}

// runChunk is how many values of a run the generic kernels sum in float32 (over four
// accumulators) before moving the sums to float64.
const runChunk = 256

// colTile is how many channels the generic cols kernels keep accumulators for at once.
const colTile = 64

// mergeShifted merges into the running (mean, m2) of count values a chunk of n values
// whose sums, shifted by k, are s1 = Σ(x-k) and s2 = Σ(x-k)².
func mergeShifted(mean, m2 float64, count int, k float32, n int, s1, s2 float64) (float64, float64) {
	fn := float64(n)
	chunkMean := float64(k) + s1/fn
	chunkM2 := max(s2-s1*s1/fn, 0) // rounding can push a tiny M2 below zero
	if s2 != s2 {
		chunkM2 = s2 // max drops NaN only when it is the first argument; keep it
	}
	if count == 0 {
		return chunkMean, chunkM2
	}
	fc := float64(count)
	total := fc + fn
	delta := chunkMean - mean
	return mean + delta*(fn/total), m2 + chunkM2 + delta*delta*(fc*fn/total)
}

// shiftedSums returns Σ(v-k) and Σ(v-k)², summed in float32 over runChunk values at a time.
func shiftedSums(v []float32, k float32) (s1, s2 float64) {
	for len(v) > 0 {
		c := v[:min(len(v), runChunk)]
		v = v[len(c):]
		var a0, a1, a2, a3, q0, q1, q2, q3 float32
		i := 0
		for ; i+4 <= len(c); i += 4 {
			d0, d1, d2, d3 := c[i]-k, c[i+1]-k, c[i+2]-k, c[i+3]-k
			a0, a1, a2, a3 = a0+d0, a1+d1, a2+d2, a3+d3
			q0, q1 = q0+float32(d0*d0), q1+float32(d1*d1)
			q2, q3 = q2+float32(d2*d2), q3+float32(d3*d3)
		}
		for ; i < len(c); i++ {
			d := c[i] - k
			a0, q0 = a0+d, q0+float32(d*d)
		}
		s1 += float64((a0 + a1) + (a2 + a3))
		s2 += float64((q0 + q1) + (q2 + q3))
	}
	return s1, s2
}

func momentsRowsGeneric(mean, m2 []float64, count int, x []float32, width, samples, stride int) {
	for j := range samples {
		for i := range mean {
			run := x[j*stride+i*width:][:width]
			k := run[0]
			if count > 0 {
				k = float32(mean[i])
			}
			s1, s2 := shiftedSums(run, k)
			mean[i], m2[i] = mergeShifted(mean[i], m2[i], count, k, width, s1, s2)
		}
		count += width
	}
}

// firstChunk is how many rows the cols kernels take before their first chunk boundary,
// given count rows merged before: chunks end at multiples of chunk.
func firstChunk(count, rows, chunk int) int {
	return min(rows, chunk-count%chunk)
}

func momentsColsGeneric(mean, m2 []float64, count int, x []float32, rows, stride int) {
	var k, s1, s2 [colTile]float32
	for c0 := 0; c0 < len(mean); c0 += colTile {
		ct := min(colTile, len(mean)-c0)
		n := count
		for r := 0; r < rows; {
			m := firstChunk(n, rows-r, momentsChunk)
			for i := range ct {
				k[i] = float32(mean[c0+i])
				if n == 0 {
					k[i] = x[c0+i]
				}
				s1[i], s2[i] = 0, 0
			}
			for end := r + m; r < end; r++ {
				for i, v := range x[r*stride+c0:][:ct] {
					d := v - k[i]
					s1[i] += d
					s2[i] += float32(d * d)
				}
			}
			for i := range ct {
				mean[c0+i], m2[c0+i] = mergeShifted(mean[c0+i], m2[c0+i], n, k[i], m, float64(s1[i]), float64(s2[i]))
			}
			n += m
		}
	}
}

// affine returns float32(d*scale + shift) with one rounding of the exact product and one
// of the sum, alike on every architecture.
func affine(d, scale, shift float32) float32 {
	return float32(float64(d)*float64(scale) + float64(shift))
}

func normalizeRowsGeneric(y, x, center, scale, shift []float32, width, samples, stride int) {
	center = zeroCenter(center, len(scale))
	for j := range samples {
		for i := range center {
			off := j*stride + i*width
			c, a, b := center[i], scale[i], shift[i]
			out := y[off:][:width]
			for t, v := range x[off:][:width] {
				out[t] = affine(v-c, a, b)
			}
		}
	}
}

func normalizeColsGeneric(y, x, center, scale, shift []float32, rows, stride int) {
	center = zeroCenter(center, len(scale))
	ct := len(center)
	for r := range rows {
		out := y[r*stride:][:ct]
		for i, v := range x[r*stride:][:ct] {
			out[i] = affine(v-center[i], scale[i], shift[i])
		}
	}
}

// dySums returns Σdy and Σdy·(x-c) over a run, summed in float32 runChunk values at a time.
func dySums(dy, x []float32, c float32) (sdy, sdx float64) {
	for len(dy) > 0 {
		n := min(len(dy), runChunk)
		var a0, a1, q0, q1 float32
		i := 0
		for ; i+2 <= n; i += 2 {
			a0, a1 = a0+dy[i], a1+dy[i+1]
			q0 += float32(dy[i] * (x[i] - c))
			q1 += float32(dy[i+1] * (x[i+1] - c))
		}
		if i < n {
			a0 += dy[i]
			q0 += float32(dy[i] * (x[i] - c))
		}
		sdy += float64(a0 + a1)
		sdx += float64(q0 + q1)
		dy, x = dy[n:], x[n:]
	}
	return sdy, sdx
}

func reduceRowsGeneric(sumDy, sumDyXc []float64, dy, x, center []float32, width, samples, stride int) {
	for j := range samples {
		for i := range center {
			off := j*stride + i*width
			a, b := dySums(dy[off:][:width], x[off:][:width], center[i])
			sumDy[i] += a
			sumDyXc[i] += b
		}
	}
}

func reduceColsGeneric(sumDy, sumDyXc []float64, count int, dy, x, center []float32, rows, stride int) {
	var s1, s2 [colTile]float32
	for c0 := 0; c0 < len(center); c0 += colTile {
		ct := min(colTile, len(center)-c0)
		n := count
		for r := 0; r < rows; {
			m := firstChunk(n, rows-r, reduceChunk)
			clear(s1[:ct])
			clear(s2[:ct])
			for end := r + m; r < end; r++ {
				g := dy[r*stride+c0:][:ct]
				for i, v := range x[r*stride+c0:][:ct] {
					s1[i] += g[i]
					s2[i] += float32(g[i] * (v - center[c0+i]))
				}
			}
			for i := range ct {
				sumDy[c0+i] += float64(s1[i])
				sumDyXc[c0+i] += float64(s2[i])
			}
			n += m
		}
	}
}

// grad returns (x-c)*gx + dy*gy + g0, formed in float64 and rounded once to float32.
func grad(x, dy, c, gy, gx, g0 float32) float32 {
	return float32(float64(x-c)*float64(gx) + float64(dy)*float64(gy) + float64(g0))
}

func gradRowsGeneric(dx, dy, x, center, gy, gx, g0 []float32, width, samples, stride int) {
	for j := range samples {
		for i := range center {
			off := j*stride + i*width
			c, a, b, z := center[i], gy[i], gx[i], g0[i]
			g, out := dy[off:][:width], dx[off:][:width]
			for t, v := range x[off:][:width] {
				out[t] = grad(v, g[t], c, a, b, z)
			}
		}
	}
}

func gradColsGeneric(dx, dy, x, center, gy, gx, g0 []float32, rows, stride int) {
	ct := len(center)
	for r := range rows {
		off := r * stride
		g, out := dy[off:][:ct], dx[off:][:ct]
		for i, v := range x[off:][:ct] {
			out[i] = grad(v, g[i], center[i], gy[i], gx[i], g0[i])
		}
	}
}

func finiteGeneric(a, b []float64) bool {
	b = b[:len(a)]
	for i, v := range a {
		if !isFinite(v + b[i]) { // see isFinite
			return false
		}
	}
	return true
}

func invStdGeneric(dst, m2 []float64, inv, eps float64) {
	dst = dst[:len(m2)]
	for i, q := range m2 {
		dst[i] = 1 / math.Sqrt(float64(q*inv)+eps)
	}
}

func foldGeneric(center, scale, shift []float32, mean, invStd, m2 []float64, weight, bias []float32, limit float64) {
	n := len(center)
	scale, shift, mean, invStd, m2, weight, bias = scale[:n], shift[:n], mean[:n], invStd[:n], m2[:n], weight[:n], bias[:n]
	for i, m := range mean {
		k := float64(weight[i]) * invStd[i]
		if foldsWhole(m, invStd[i], m2[i], limit) {
			center[i], scale[i] = 0, float32(k)
			shift[i] = wholeShift(bias[i], m, float32(k))
			continue
		}
		c := float32(m)
		center[i], scale[i] = c, float32(k)
		shift[i] = float32(float64(bias[i]) - float64((m-float64(c))*k))
	}
}

func foldWholeGeneric(scale, shift []float32, mean, invStd, m2 []float64, weight, bias []float32, limit float64) bool {
	n := len(scale)
	shift, mean, invStd, m2, weight, bias = shift[:n], mean[:n], invStd[:n], m2[:n], weight[:n], bias[:n]
	whole := true
	for i, m := range mean {
		k := float32(float64(weight[i]) * invStd[i])
		scale[i] = k
		shift[i] = wholeShift(bias[i], m, k)
		whole = whole && foldsWhole(m, invStd[i], m2[i], limit)
	}
	return whole
}

// wholeShift is the shift of a channel that folds its whole mean: β - mean·scale, with
// the scale as the kernels apply it.
func wholeShift(bias float32, mean float64, scale float32) float32 {
	return float32(float64(bias) - mean*float64(scale))
}

// foldsWhole tells whether a channel with this mean, 1/σ and M2 folds its whole mean
// into the shift: the mean within limit standard deviations of zero (not for a NaN), and
// M2 not 0, since a constant channel keeps its center to normalize to exactly β.
func foldsWhole(mean, invStd, m2, limit float64) bool {
	return math.Abs(mean*invStd) <= limit && m2 != 0
}

func saveGeneric(center, residual, inv []float32, mean, invStd []float64) {
	n := len(center)
	residual, inv, mean, invStd = residual[:n], inv[:n], mean[:n], invStd[:n]
	for i, m := range mean {
		c := float32(m)
		center[i] = c
		residual[i] = float32(m - float64(c))
		inv[i] = float32(invStd[i])
	}
}

func trackGeneric(runMean, runVar []float32, mean, m2 []float64, factor, inv float64) {
	n := len(runMean)
	runVar, mean, m2 = runVar[:n], mean[:n], m2[:n]
	keep := 1 - factor
	for i, m := range mean {
		runMean[i] = float32(float64(keep*float64(runMean[i])) + float64(factor*m))
		runVar[i] = float32(float64(keep*float64(runVar[i])) + float64(factor*float64(m2[i]*inv)))
	}
}

func widenGeneric(dst []float64, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = float64(v)
	}
}

func narrowGeneric(dst []float32, src []float64, scale float64) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] = float32(float64(v * scale))
	}
}

func gradCoefficientsGeneric(gy, gx, g0, dWeight, dBias []float32, sumDy, sumDyXc []float64, invStd, weight, lo []float32, invM float64) {
	n := len(sumDy)
	gy, gx, g0, sumDyXc, invStd, weight, lo = gy[:n], gx[:n], g0[:n], sumDyXc[:n], invStd[:n], weight[:n], lo[:n]
	for i, sDy := range sumDy {
		inv, l := float64(invStd[i]), float64(lo[i])
		sXmu := sumDyXc[i] - float64(l*sDy)
		sumDyXc[i] = sXmu
		// dx = γ·invStd·(dy - Σdy/m - (x - mean)·invStd²·Σdy·(x - mean)/m), with
		// x - mean = (x - center) - lo.
		dyScale := float64(weight[i]) * inv
		xScale := -dyScale * inv * inv * sXmu * invM
		gy[i] = float32(dyScale)
		gx[i] = float32(xScale)
		g0[i] = float32(float64(-dyScale*sDy*invM) - float64(xScale*l))
	}
	if len(dWeight) > 0 {
		dWeight = dWeight[:n]
		for i, v := range sumDyXc {
			dWeight[i] = float32(v * float64(invStd[i]))
		}
	}
	if len(dBias) > 0 {
		dBias = dBias[:n]
		for i, v := range sumDy {
			dBias[i] = float32(v)
		}
	}
}
