package bn

import (
	"math"
	"testing"
)

// fuzzCase decodes a fuzz input into a shape and a tensor: values offset + scale·b for
// the input's signed bytes, with |offset| up to 3e4 times the byte step so large means
// are covered, and a NaN or an infinity placed when special asks for one.
type fuzzCase struct {
	s    Shape
	x    []float32
	aux  []float32 // a second tensor (dy), from the same bytes reversed
	perC []float32 // per-channel values (scale, shift, weight)
}

func decodeFuzz(n, c, sp uint8, last bool, offset int16, special uint8, data []byte) fuzzCase {
	s := Shape{N: 1 + int(n%6), C: 1 + int(c%20), S: 1 + int(sp%40)}
	if last {
		s.Layout = ChannelsLast
	}
	step := float32(0.01)
	base := float32(offset) * step
	at := func(i int) float32 {
		if len(data) == 0 {
			return 0
		}
		return float32(int8(data[i%len(data)]))
	}
	fc := fuzzCase{s: s, x: make([]float32, s.Len()), aux: make([]float32, s.Len()), perC: make([]float32, 3*s.C)}
	for i := range fc.x {
		fc.x[i] = base + step*at(i)
		fc.aux[i] = at(len(fc.x)-1-i) / 64
	}
	for i := range fc.perC {
		fc.perC[i] = at(7*i+3) / 32
	}
	if special > 0 && len(fc.x) > 0 {
		fc.x[int(special)%len(fc.x)] = [...]float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}[special%3]
	}
	return fc
}

func addSeeds(f *testing.F) {
	f.Add(uint8(3), uint8(4), uint8(5), false, int16(0), uint8(0), []byte{1, 2, 3, 250, 7, 128, 127})
	f.Add(uint8(1), uint8(17), uint8(0), true, int16(-30000), uint8(0), []byte{9, 200, 14})
	f.Add(uint8(5), uint8(2), uint8(39), false, int16(12345), uint8(0), []byte{0, 0, 0, 1})
	f.Add(uint8(2), uint8(19), uint8(6), true, int16(77), uint8(5), []byte{33, 44, 55, 66, 77})
	f.Add(uint8(0), uint8(0), uint8(33), false, int16(0), uint8(0), []byte{})
}

// withKernels computes out with generic, then with every other set, and calls check.
func withKernels[T any](t *testing.T, run func() T, check func(name string, got, want T)) {
	prev := Kernel()
	defer UseKernel(prev)
	UseKernel("generic")
	want := run()
	for _, k := range simdKernels() {
		UseKernel(k.name)
		check(k.name, run(), want)
	}
}

func sameNaN(a, b float32) bool { return math.IsNaN(float64(a)) == math.IsNaN(float64(b)) }

func FuzzMoments(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, n, c, sp uint8, last bool, offset int16, special uint8, data []byte) {
		fc := decodeFuzz(n, c, sp, last, offset, special, data)
		type result struct{ mean, variance []float32 }
		withKernels(t, func() result {
			r := result{make([]float32, fc.s.C), make([]float32, fc.s.C)}
			if err := Moments(r.mean, r.variance, fc.x, fc.s); err != nil {
				t.Fatal(err)
			}
			return r
		}, func(name string, got, want result) {
			for i := range want.mean {
				m, v := float64(want.mean[i]), float64(want.variance[i])
				if !sameNaN(got.mean[i], want.mean[i]) || !sameNaN(got.variance[i], want.variance[i]) {
					t.Fatalf("%s %v channel %d: (%v, %v), generic (%v, %v)", name, fc.s, i, got.mean[i], got.variance[i], m, v)
				}
				if math.IsNaN(m) {
					continue
				}
				if v == 0 && got.variance[i] != 0 {
					t.Fatalf("%s %v channel %d: variance %v of a constant channel", name, fc.s, i, got.variance[i])
				}
			}
			// Both sets approximate the float64 statistics; hold each to the error bound of
			// the documented method rather than to the other's rounding.
			bounds := momentBounds(fc.x, fc.s)
			for i, b := range bounds {
				if math.IsNaN(b.mean) {
					continue
				}
				for _, r := range []struct {
					name string
					res  result
				}{{name, got}, {"generic", want}} {
					if absErr(float64(r.res.mean[i]), b.mean) > b.meanTol || absErr(float64(r.res.variance[i]), b.variance) > b.varTol {
						t.Fatalf("%s %v channel %d: (%v, %v), float64 (%v, %v), bounds (%.3g, %.3g)", r.name, fc.s, i,
							r.res.mean[i], r.res.variance[i], b.mean, b.variance, b.meanTol, b.varTol)
					}
				}
			}
		})
	})
}

// A momentBound is a channel's float64 mean and variance and how far the one-pass method
// may stray from them: float32 sums of deviations from the channel's first value k over
// chunks of at most L values err by up to about L·u·Σ|x-k| (and L·u·Σ(x-k)² for the
// squares), which cancellation passes on to the mean and the variance.
type momentBound struct{ mean, variance, meanTol, varTol float64 }

func momentBounds(x []float32, s Shape) []momentBound {
	mean, m2 := refMoments(x, s)
	n := float64(s.N * s.S)
	first := make([]float64, s.C)
	seen := make([]bool, s.C)
	sumAbs, sumSq := make([]float64, s.C), make([]float64, s.C)
	for i, v := range x {
		c := channelOf(s, i)
		if !seen[c] {
			first[c], seen[c] = float64(v), true
		}
		d := float64(v) - first[c]
		sumAbs[c] += math.Abs(d)
		sumSq[c] += d * d
	}
	const u = 0x1p-24
	chunk := min(n, runChunk)
	b := make([]momentBound, s.C)
	for c := range b {
		v := m2[c] / n
		b[c] = momentBound{
			mean:     mean[c],
			variance: v,
			meanTol:  2*chunk*u*sumAbs[c]/n + 1e-6*max(math.Abs(mean[c]), math.Sqrt(v)),
			varTol:   4*chunk*u*sumSq[c]/n + 2e-6*v,
		}
		if !isFinite(v) || !isFinite(mean[c]) {
			b[c].mean = math.NaN()
		}
	}
	return b
}

func FuzzScaleShift(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, n, c, sp uint8, last bool, offset int16, special uint8, data []byte) {
		fc := decodeFuzz(n, c, sp, last, offset, special, data)
		C := fc.s.C
		withKernels(t, func() []float32 {
			y := make([]float32, fc.s.Len())
			if err := ScaleShift(y, fc.x, fc.perC[:C], fc.perC[C:2*C], fc.s); err != nil {
				t.Fatal(err)
			}
			return y
		}, func(name string, got, want []float32) {
			for i := range want {
				if u := ulps(got[i], want[i]); u > 1 && !(math.IsNaN(float64(got[i])) && math.IsNaN(float64(want[i]))) {
					t.Fatalf("%s %v: y[%d] = %v, generic %v", name, fc.s, i, got[i], want[i])
				}
			}
		})
	})
}

// FuzzInfer checks Infer with running statistics on every set against generic, within an
// ulp as ScaleShift, and Folded.Infer against Infer on the same set, to the bit. The
// running means lie near the data, which the offset puts up to 3e4 byte steps from zero,
// so channels both fold whole and keep a center.
func FuzzInfer(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, n, c, sp uint8, last bool, offset int16, special uint8, data []byte) {
		fc := decodeFuzz(n, c, sp, last, offset, special, data)
		C := fc.s.C
		l := New(C)
		copy(l.Weight, fc.perC[:C])
		copy(l.Bias, fc.perC[C:2*C])
		for i, v := range fc.perC[2*C:] {
			l.RunningMean[i] = float32(offset)*0.01 + v*0.3
			l.RunningVar[i] = v * v * 1e-3
		}
		withKernels(t, func() []float32 {
			y := make([]float32, fc.s.Len())
			if err := l.Infer(y, fc.x, fc.s); err != nil {
				t.Fatal(err)
			}
			folded, err := l.Fold()
			if err != nil {
				t.Fatal(err)
			}
			yf := make([]float32, fc.s.Len())
			if err := folded.Infer(yf, fc.x, fc.s); err != nil {
				t.Fatal(err)
			}
			for i := range y {
				if math.Float32bits(yf[i]) != math.Float32bits(y[i]) {
					t.Fatalf("%s %v: Folded y[%d] = %v, Infer %v", Kernel(), fc.s, i, yf[i], y[i])
				}
			}
			return y
		}, func(name string, got, want []float32) {
			for i := range want {
				if u := ulps(got[i], want[i]); u > 1 && !(math.IsNaN(float64(got[i])) && math.IsNaN(float64(want[i]))) {
					t.Fatalf("%s %v: y[%d] = %v, generic %v", name, fc.s, i, got[i], want[i])
				}
			}
		})
	})
}

// forwardTol bounds a Forward output's difference between kernel sets. The statistics may
// differ by about 1e-6 of max(|mean|, std), which moves y = γ(x-mean)/std + β by about
// |γ|·1e-6·max(|mean|, std)/std wherever it is, even at y = β; the rest is rounding of y.
func forwardTol(y, beta, gamma float32, mean, std float64) float64 {
	tol := 1e-4*math.Abs(float64(y-beta)) + 1e-6*math.Abs(float64(beta)) + 1e-30
	if std > 0 {
		tol += 4e-6 * math.Abs(float64(gamma)) * max(math.Abs(mean), std) / std
	}
	return tol
}

func FuzzForward(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, n, c, sp uint8, last bool, offset int16, special uint8, data []byte) {
		fc := decodeFuzz(n, c, sp, last, offset, special, data)
		if fc.s.N*fc.s.S < 2 {
			return
		}
		C := fc.s.C
		withKernels(t, func() []float32 {
			l := New(C)
			copy(l.Weight, fc.perC[:C])
			copy(l.Bias, fc.perC[C:2*C])
			y := make([]float32, fc.s.Len())
			if err := l.Forward(y, fc.x, fc.s, nil); err != nil {
				t.Fatal(err)
			}
			return append(y, append(l.RunningMean, l.RunningVar...)...)
		}, func(name string, got, want []float32) {
			mean, m2 := refMoments(fc.x, fc.s)
			for i := range fc.x {
				c := channelOf(fc.s, i)
				std := math.Sqrt(m2[c] / float64(fc.s.N*fc.s.S))
				tol := forwardTol(want[i], fc.perC[C+c], fc.perC[c], mean[c], std)
				if !sameNaN(got[i], want[i]) || math.Abs(float64(got[i]-want[i])) > tol {
					t.Fatalf("%s %v: y[%d] = %v, generic %v", name, fc.s, i, got[i], want[i])
				}
			}
			for i := len(fc.x); i < len(want); i++ {
				if !sameNaN(got[i], want[i]) || relErr(float64(got[i]), float64(want[i])) > 1e-5 && math.Abs(float64(got[i]-want[i])) > 1e-6 {
					t.Fatalf("%s %v: running statistic %d = %v, generic %v", name, fc.s, i-len(fc.x), got[i], want[i])
				}
			}
		})
	})
}

func FuzzBackward(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, n, c, sp uint8, last bool, offset int16, special uint8, data []byte) {
		fc := decodeFuzz(n, c, sp, last, offset, special, data)
		if fc.s.N*fc.s.S < 2 {
			return
		}
		s, C := fc.s, fc.s.C
		type result struct {
			dx, dw, db []float32
			saved      Saved
		}
		withKernels(t, func() result {
			l := New(C)
			copy(l.Weight, fc.perC[:C])
			r := result{dx: make([]float32, s.Len()), dw: make([]float32, C), db: make([]float32, C)}
			if err := l.Forward(make([]float32, s.Len()), fc.x, s, &r.saved); err != nil {
				t.Fatal(err)
			}
			if err := l.Backward(r.dx, r.dw, r.db, fc.aux, fc.x, s, &r.saved); err != nil {
				t.Fatal(err)
			}
			return r
		}, func(name string, got, want result) {
			// Judge against the magnitude of each quantity's terms, from generic's statistics.
			m := float64(s.N * s.S)
			absDy, absDyX := make([]float64, C), make([]float64, C)
			for i, v := range fc.x {
				c := channelOf(s, i)
				xhat := (float64(v) - float64(want.saved.Mean[c])) * float64(want.saved.InvStd[c])
				absDy[c] += math.Abs(float64(fc.aux[i]))
				absDyX[c] += math.Abs(float64(fc.aux[i]) * xhat)
			}
			for i, v := range fc.x {
				c := channelOf(s, i)
				xhat := (float64(v) - float64(want.saved.Mean[c])) * float64(want.saved.InvStd[c])
				g := math.Abs(float64(fc.perC[c]) * float64(want.saved.InvStd[c]))
				terms := g * (math.Abs(float64(fc.aux[i])) + absDy[c]/m + math.Abs(xhat)*absDyX[c]/m +
					meanShift(want.saved, c)*(absDyX[c]/m+math.Abs(xhat)*absDy[c]/m))
				if !sameNaN(got.dx[i], want.dx[i]) || math.Abs(float64(got.dx[i]-want.dx[i])) > 1e-4*terms+1e-30 {
					t.Fatalf("%s %v: dx[%d] = %v, generic %v (terms %v)", name, s, i, got.dx[i], want.dx[i], terms)
				}
			}
			for c := range C {
				tol := 1e-4*absDyX[c] + meanShift(want.saved, c)*absDy[c] + 1e-30
				if !sameNaN(got.dw[c], want.dw[c]) || math.Abs(float64(got.dw[c]-want.dw[c])) > tol {
					t.Fatalf("%s %v: dWeight[%d] = %v, generic %v", name, s, c, got.dw[c], want.dw[c])
				}
				if !sameNaN(got.db[c], want.db[c]) || math.Abs(float64(got.db[c]-want.db[c])) > 1e-5*absDy[c]+1e-30 {
					t.Fatalf("%s %v: dBias[%d] = %v, generic %v", name, s, c, got.db[c], want.db[c])
				}
			}
		})
	})
}

// meanShift bounds how far two kernel sets' batch means of channel c may differ, in units
// of the standard deviation (as it moves x̂): about 1e-6 of max(|mean|, std). Backward's
// dWeight = Σdy·x̂ moves by that times Σdy, which can dwarf Σ|dy·x̂|.
func meanShift(sv Saved, c int) float64 {
	inv := float64(sv.InvStd[c])
	return 4e-6 * max(math.Abs(float64(sv.Mean[c]))*inv, 1)
}
