package bn

// A kernelSet is one implementation of the hot loops (generic Go, AVX2, AVX-512, NEON).
//
// Every kernel works on a tile of channels and sees the tensor in one of two forms:
//
//   - rows: channel i's values in sample j are the run x[j*stride+i*width:][:width]
//     (channels-first with S > 1). The tile has len(mean) (or len(center)) channels.
//   - cols: row r holds one value of every channel of the tile, x[r*stride:][:channels]
//     (channels-last, and either layout with S = 1).
//
// Kernels read and write only inside the slices they are given; the caller slices x and y
// to exactly the span of the tile. Partial sums and moments are float64 and merged in a
// fixed order, so results do not depend on how a caller splits the channels, or on where it
// splits the samples at multiples of sampleGroup (rows) or the rows at multiples of
// momentsChunk or reduceChunk (cols).
type kernelSet struct {
	name string

	// momentsRows merges each channel's runs into (mean[i], m2[i]): the mean and the
	// sum of squared deviations of the count values merged before. The runs are summed
	// in float32 shifted by k (the first value when nothing is merged yet, else
	// float32(mean[i])), in chunks whose sums move to float64: chunks within a run, or,
	// for short runs, a kernel may sum the runs of up to sampleGroup(width) samples
	// together, in groups ending at multiples of it counted from the first sample ever
	// merged. Each chunk's mean and M2 are merged by Chan's formula.
	momentsRows func(mean, m2 []float64, count int, x []float32, width, samples, stride int)
	// momentsCols merges rows into (mean[i], m2[i]) in chunks of momentsChunk rows that
	// end at multiples of momentsChunk counted from the first row ever merged (count
	// rows before this call), each chunk summed in float32 shifted by k (the first row's
	// value when count is 0, else float32(mean[i])) and merged by Chan's formula.
	momentsCols func(mean, m2 []float64, count int, x []float32, rows, stride int)

	// normalizeRows and normalizeCols write y = (x - center[i])*scale[i] + shift[i], or
	// with a nil center y = x*scale[i] + shift[i] over len(scale) channels. y is either x
	// itself or disjoint from it.
	normalizeRows func(y, x, center, scale, shift []float32, width, samples, stride int)
	normalizeCols func(y, x, center, scale, shift []float32, rows, stride int)

	// reduceRows and reduceCols add Σdy and Σdy·(x - center[i]) over each channel's
	// values to sumDy[i] and sumDyXc[i], summing in float32 per run or, for short runs,
	// per group of up to sampleGroup(width) samples from the call's first (rows), or per
	// chunk of reduceChunk rows aligned as momentsCols aligns its own (cols), then in
	// float64.
	reduceRows func(sumDy, sumDyXc []float64, dy, x, center []float32, width, samples, stride int)
	reduceCols func(sumDy, sumDyXc []float64, count int, dy, x, center []float32, rows, stride int)

	// gradRows and gradCols write dx = (x - center[i])*gx[i] + dy*gy[i] + g0[i]: the
	// batch-norm input gradient with its per-channel coefficients folded. dx may be
	// dy or x itself.
	gradRows func(dx, dy, x, center, gy, gx, g0 []float32, width, samples, stride int)
	gradCols func(dx, dy, x, center, gy, gx, g0 []float32, rows, stride int)

	// finite reports whether a[i] + b[i] is finite for each of len(a) channels: the test
	// of a tile's moments or sums for a channel to sum again exactly (see plan.moments).
	finite func(a, b []float64) bool

	// invStd sets dst[i] = 1/sqrt(m2[i]·inv + eps) for each of len(m2) channels, each
	// operation rounded once in float64, so every set gives the same bits. dst may be
	// m2 itself. A square root and a division per channel cost as much as normalizing
	// a few dozen values: done one channel at a time they took 4 µs of Infer on
	// NC 256×1024, an eighth of its time.
	invStd func(dst, m2 []float64, inv, eps float64)

	// fold sets each of len(center) channels' center = float32(mean[i]), scale =
	// weight[i]·invStd[i] and shift = bias[i] - (mean[i] - center)·scale, each operation
	// rounded once in float64, so every set gives the same bits; but a channel that folds
	// whole (see foldsWhole) gets center = 0 and foldWhole's scale and shift. Converting
	// one channel at a time took 2 ns a channel on amd64 (each scalar conversion waits on
	// the last), a third of Forward on NC 2×1024.
	fold func(center, scale, shift []float32, mean, invStd, m2 []float64, weight, bias []float32, limit float64)
	// foldWhole sets each of len(scale) channels' scale = float32(weight[i]·invStd[i]) and
	// shift = bias[i] - mean[i]·scale, the whole mean folded into the shift for
	// normalizing with a nil center; rounded as fold rounds. It reports whether every
	// channel folds whole.
	foldWhole func(scale, shift []float32, mean, invStd, m2 []float64, weight, bias []float32, limit float64) bool

	// The per-channel work between the passes. Like fold, these round each operation once
	// in float64, so every set gives the same bits, and exist because amd64's scalar
	// conversions wait on each other: one channel at a time, Saved's statistics alone
	// took 2.3 ns a channel, a third of Forward on NC 2×1024.

	// save sets, for each of len(center) channels, center = float32(mean[i]), residual =
	// float32(mean[i] - center) and inv = float32(invStd[i]): the statistics Forward
	// leaves for Backward.
	save func(center, residual, inv []float32, mean, invStd []float64)
	// track moves the running statistics of len(runMean) channels toward a batch's:
	// runMean = (1-factor)·runMean + factor·mean[i] and runVar = (1-factor)·runVar +
	// factor·(m2[i]·inv), rounded to float32.
	track func(runMean, runVar []float32, mean, m2 []float64, factor, inv float64)
	// widen sets dst[i] = float64(src[i]) for each of len(src) values, and narrow
	// dst[i] = float32(src[i]·scale) for each of len(dst), the product rounded once in
	// float64, so scale 1 narrows src as it is. In Go, scaling Moments' M2s to
	// variances took a fifth of Moments on NC 4×1024.
	widen  func(dst []float64, src []float32)
	narrow func(dst []float32, src []float64, scale float64)
	// gradCoefficients turns a tile's sums into Backward's: for each of len(sumDy)
	// channels, with mean = center + lo[i], it sets sumDyXc[i] to Σdy·(x - mean) =
	// sumDyXc[i] - lo[i]·sumDy[i], then gy = γ·invStd, gx = -gy·invStd²·sumDyXc[i]·invM
	// and g0 = -gy·sumDy[i]·invM - gx·lo[i] (see gradRows), and, unless they are empty,
	// dWeight = sumDyXc[i]·invStd and dBias = sumDy[i].
	gradCoefficients func(gy, gx, g0, dWeight, dBias []float32, sumDy, sumDyXc []float64, invStd, weight, lo []float32, invM float64)
}

// momentsChunk and reduceChunk are how many rows the cols moments and reductions sum in
// float32 before moving to float64. The moments take as many values as each of the
// generic rows kernels' four accumulators takes in a chunk of runChunk, their sums of
// squared deviations all positive; with 32 rows the merges had cost them about a sixth of
// their time (avx512 Moments on NHWC 32×512×7×7 0.65 → 0.61× copy, 32×16×56×56 0.61 →
// 0.46×; avx2 NC 256×1024 0.75 → 0.62×). The reductions' sums of dy·(x - center) change
// sign, and stay at 32: with 64, dx on a mean 1e4 times the spread lost up to 2.8 times
// the accuracy (TestLargeMeanForward).
const (
	momentsChunk = 64
	reduceChunk  = 32
)

// sampleGroup is how many samples of runs of width values a rows moments kernel may sum
// in float32 before merging: as many as fit one chunk of runChunk values when that is at
// least two, else one.
func sampleGroup(width int) int {
	if 2*width <= runChunk {
		return runChunk / width
	}
	return 1
}

// normChannels is how many channels a normalize kernel takes: len(center), or len(scale)
// for a nil center.
func normChannels(center, scale []float32) int {
	if center == nil {
		return len(scale)
	}
	return len(center)
}

// zeroCenter is center, or for a nil center n zeros: kernels with no form of their own
// for a nil center subtract zero, which changes no value.
func zeroCenter(center []float32, n int) []float32 {
	if center == nil {
		return zeros[:n]
	}
	return center
}
