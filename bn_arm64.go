//go:build !purego

package bn

import "golang.org/x/sys/cpu"

// The NEON kernels (Advanced SIMD, which every arm64 CPU that Go supports has). The
// assembly in bn_arm64.s runs every loop over values and channels, the float64 Chan merges
// included; these wrappers walk samples, tiles of channels and chunks of rows, with chunk
// boundaries where the generic kernels put them.

var neonKernels = kernelSet{
	name:          "neon",
	momentsRows:   momentsRowsNEON,
	momentsCols:   momentsColsNEON,
	normalizeRows: normalizeRowsNEON,
	normalizeCols: normalizeColsNEON,
	reduceRows:    reduceRowsNEON,
	reduceCols:    reduceColsNEON,
	gradRows:      gradRowsNEON,
	gradCols:      gradColsNEON,
	// No NEON version yet: the generic loop's scalar FSQRT and FDIV stand in (vector
	// fsqrt and fdiv on 2D need WORD encodings). On amd64 the vector kernel took Infer on
	// NC 256×1024 from 1.02× to 0.95× copy; arm64 speed has not been measured.
	invStd: invStdGeneric,
	// The generic loops: arm64's scalar conversions write whole registers, so they do not
	// wait on each other as amd64's do. (finite has no conversions, but how a vector
	// version would compare on arm64 has not been measured.)
	finite:           finiteGeneric,
	fold:             foldGeneric,
	foldWhole:        foldWholeGeneric,
	save:             saveGeneric,
	track:            trackGeneric,
	widen:            widenGeneric,
	narrow:           narrowGeneric,
	gradCoefficients: gradCoefficientsGeneric,
}

// archKernels lists this architecture's SIMD kernel sets, best first.
func archKernels() []registration {
	return []registration{{&neonKernels, cpu.ARM64.HasASIMD}}
}

// neonTile is how many channels a wrapper hands to one assembly call: it bounds the
// per-channel scratch the wrappers keep on the stack.
const neonTile = 256

// colRows is how many rows normalizeCols and gradCols hand to one assembly call, which
// walks them a block of channels at a time: short enough that the rows' cache lines are
// still in L1 when the next block of channels reads the rest of them.
const colRows = 64

//go:noescape
func momentsRunsNEON(s1, s2 []float64, k, x []float32, width int)

//go:noescape
func momentsColsChunkNEON(s1, s2 []float64, k, x []float32, rows, stride int)

//go:noescape
func mergeChunksNEON(mean, m2 []float64, k []float32, s1, s2 []float64, inv, wMean, wM2 float64)

//go:noescape
func normalizeRunsNEON(y, x, center, scale, shift []float32, width int)

//go:noescape
func normalizeColsTileNEON(y, x, center, scale, shift []float32, rows, stride int)

//go:noescape
func reduceRunsNEON(sumDy, sumDyXc []float64, dy, x, center []float32, width int)

//go:noescape
func reduceColsChunkNEON(sumDy, sumDyXc []float64, dy, x, center []float32, rows, stride int)

//go:noescape
func gradRunsNEON(dx, dy, x, center, gy, gx, g0 []float32, width int)

//go:noescape
func gradColsTileNEON(dx, dy, x, center, gy, gx, g0 []float32, rows, stride int)

func momentsRowsNEON(mean, m2 []float64, count int, x []float32, width, samples, stride int) {
	if samples == 0 || len(mean) == 0 {
		return
	}
	m2 = m2[:len(mean)]
	raceRead(x)
	raceWrite64(mean)
	raceWrite64(m2)
	var k [neonTile]float32
	var s1, s2 [neonTile]float64
	for c0 := 0; c0 < len(mean); c0 += neonTile {
		ct := min(neonTile, len(mean)-c0)
		kt := shifts(k[:ct], mean[c0:], count, x[c0*width:], width)
		n := count
		for j := range samples {
			runs := x[j*stride+c0*width:][:ct*width]
			momentsRunsNEON(s1[:ct], s2[:ct], kt, runs, width)
			mergeChunks(mean[c0:c0+ct], m2[c0:c0+ct], n, kt, width, s1[:ct], s2[:ct])
			n += width
		}
	}
}

func momentsColsNEON(mean, m2 []float64, count int, x []float32, rows, stride int) {
	if rows == 0 || len(mean) == 0 {
		return
	}
	m2 = m2[:len(mean)]
	raceRead(x)
	raceWrite64(mean)
	raceWrite64(m2)
	var k [neonTile]float32
	var s1, s2 [neonTile]float64
	for c0 := 0; c0 < len(mean); c0 += neonTile {
		ct := min(neonTile, len(mean)-c0)
		kt := shifts(k[:ct], mean[c0:], count, x[c0:], 1)
		n := count
		for r := 0; r < rows; {
			m := firstChunk(n, rows-r, momentsChunk)
			xs := x[r*stride+c0:][:(m-1)*stride+ct]
			momentsColsChunkNEON(s1[:ct], s2[:ct], kt, xs, m, stride)
			mergeChunks(mean[c0:c0+ct], m2[c0:c0+ct], n, kt, m, s1[:ct], s2[:ct])
			r += m
			n += m
		}
	}
}

// shifts sets k[i], the shift of channel i of a tile for its next chunk, to float32(mean[i]),
// or, when nothing is merged yet (count 0), to the channel's first value x[i*step], and
// returns k.
func shifts(k []float32, mean []float64, count int, x []float32, step int) []float32 {
	for i := range k {
		if count == 0 {
			k[i] = x[i*step]
		} else {
			k[i] = float32(mean[i])
		}
	}
	return k
}

// mergeChunks merges into each (mean[i], m2[i]) of count values a chunk of n values whose
// sums shifted by k[i] are s1[i] and s2[i], by Chan's formula as mergeShifted, with the
// divisions all channels share done once. It then sets k[i] to float32(mean[i]), the
// channel's shift for its next chunk.
func mergeChunks(mean, m2 []float64, count int, k []float32, n int, s1, s2 []float64) {
	nc := len(k)
	mean, m2, s1, s2 = mean[:nc], m2[:nc], s1[:nc], s2[:nc]
	if count == 0 {
		// With nothing merged, the weights below (1 and 0) make the chunk the result.
		clear(mean)
		clear(m2)
	}
	fc, fn := float64(count), float64(n)
	total := fc + fn
	mergeChunksNEON(mean, m2, k, s1, s2, 1/fn, fn/total, fc*fn/total)
}

func normalizeRowsNEON(y, x, center, scale, shift []float32, width, samples, stride int) {
	center = zeroCenter(center, len(scale))
	nc := len(center)
	if samples == 0 || nc == 0 {
		return
	}
	scale, shift = scale[:nc], shift[:nc]
	raceRead(x)
	params(nc, center, scale, shift)
	raceWrite(y)
	for j := range samples {
		off := j * stride
		normalizeRunsNEON(y[off:][:nc*width], x[off:][:nc*width], center, scale, shift, width)
	}
}

func normalizeColsNEON(y, x, center, scale, shift []float32, rows, stride int) {
	center = zeroCenter(center, len(scale))
	nc := len(center)
	if rows == 0 || nc == 0 {
		return
	}
	scale, shift = scale[:nc], shift[:nc]
	raceRead(x)
	params(nc, center, scale, shift)
	raceWrite(y)
	for r := 0; r < rows; r += colRows {
		m := min(colRows, rows-r)
		ext := (m-1)*stride + nc
		off := r * stride
		normalizeColsTileNEON(y[off:][:ext], x[off:][:ext], center, scale, shift, m, stride)
	}
}

func reduceRowsNEON(sumDy, sumDyXc []float64, dy, x, center []float32, width, samples, stride int) {
	nc := len(center)
	if samples == 0 || nc == 0 {
		return
	}
	sumDy, sumDyXc = sumDy[:nc], sumDyXc[:nc]
	raceRead(dy)
	raceRead(x)
	raceRead(center)
	raceWrite64(sumDy)
	raceWrite64(sumDyXc)
	for j := range samples {
		off := j * stride
		reduceRunsNEON(sumDy, sumDyXc, dy[off:][:nc*width], x[off:][:nc*width], center, width)
	}
}

func reduceColsNEON(sumDy, sumDyXc []float64, count int, dy, x, center []float32, rows, stride int) {
	nc := len(center)
	if rows == 0 || nc == 0 {
		return
	}
	sumDy, sumDyXc = sumDy[:nc], sumDyXc[:nc]
	raceRead(dy)
	raceRead(x)
	raceRead(center)
	raceWrite64(sumDy)
	raceWrite64(sumDyXc)
	for r := 0; r < rows; {
		m := firstChunk(count+r, rows-r, reduceChunk)
		ext := (m-1)*stride + nc
		off := r * stride
		reduceColsChunkNEON(sumDy, sumDyXc, dy[off:][:ext], x[off:][:ext], center, m, stride)
		r += m
	}
}

func gradRowsNEON(dx, dy, x, center, gy, gx, g0 []float32, width, samples, stride int) {
	nc := len(center)
	if samples == 0 || nc == 0 {
		return
	}
	gy, gx, g0 = gy[:nc], gx[:nc], g0[:nc]
	raceRead(dy)
	raceRead(x)
	params(nc, center, gy, gx, g0)
	raceWrite(dx)
	for j := range samples {
		off := j * stride
		n := nc * width
		gradRunsNEON(dx[off:][:n], dy[off:][:n], x[off:][:n], center, gy, gx, g0, width)
	}
}

func gradColsNEON(dx, dy, x, center, gy, gx, g0 []float32, rows, stride int) {
	nc := len(center)
	if rows == 0 || nc == 0 {
		return
	}
	gy, gx, g0 = gy[:nc], gx[:nc], g0[:nc]
	raceRead(dy)
	raceRead(x)
	params(nc, center, gy, gx, g0)
	raceWrite(dx)
	for r := 0; r < rows; r += colRows {
		m := min(colRows, rows-r)
		ext := (m-1)*stride + nc
		off := r * stride
		gradColsTileNEON(dx[off:][:ext], dy[off:][:ext], x[off:][:ext], center, gy, gx, g0, m, stride)
	}
}
