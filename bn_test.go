package bn

import (
	"errors"
	"math"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRequiredKernel fails unless the kernel set named by BN_REQUIRE_KERNEL was chosen at
// init. CI sets it for each CPU it emulates, to prove dispatch picks what it should.
func TestRequiredKernel(t *testing.T) {
	want := os.Getenv("BN_REQUIRE_KERNEL")
	if want == "" {
		t.Skip("BN_REQUIRE_KERNEL not set")
	}
	if initialKernel != want {
		t.Fatalf("init chose kernel set %q, BN_REQUIRE_KERNEL wants %q (available: %v)", initialKernel, want, Kernels())
	}
}

func TestKernelRegistry(t *testing.T) {
	names := Kernels()
	require.NotEmpty(t, names)
	require.Equal(t, "generic", names[len(names)-1], "generic must always be available, last")
	require.Contains(t, names, Kernel())
	require.ErrorIs(t, UseKernel("no-such-set"), ErrParam)
	for _, r := range registry {
		if !r.available {
			require.ErrorIs(t, UseKernel(r.kernels.name), ErrParam, "%s does not run here", r.kernels.name)
		}
	}
}

// TestForward checks training-mode outputs, running statistics and saved statistics
// against the float64 reference, for every shape, layout and kernel set.
func TestForward(t *testing.T) {
	rng := newRand(3)
	forEachKernel(t, func(t *testing.T, _ *kernelSet) {
		for _, base := range testShapes {
			for _, s := range bothLayouts(base) {
				x := normal(rng, s.Len(), 2, 3)
				l := New(s.C)
				l.Weight = normal(rng, s.C, 1, 0.5)
				l.Bias = normal(rng, s.C, 0, 1)
				copy(l.RunningMean, normal(rng, s.C, 0, 1))
				rm0, rv0 := slices.Clone(l.RunningMean), slices.Clone(l.RunningVar)
				y := make([]float32, s.Len())
				var saved Saved
				require.NoError(t, l.Forward(y, x, s, &saved))

				want := refForward(x, l.Weight, l.Bias, l.Eps, s)
				if e := normErr(y, want); e > 2e-6 {
					t.Errorf("%v: y norm-wise error %.3g", s, e)
				}
				mean, m2 := refMoments(x, s)
				n := float64(s.N * s.S)
				for c := range s.C {
					wantRM := 0.9*float64(rm0[c]) + 0.1*mean[c]
					wantRV := 0.9*float64(rv0[c]) + 0.1*m2[c]/(n-1)
					// The running mean can cancel to near zero: judge it against its terms.
					rmTerms := 0.9*math.Abs(float64(rm0[c])) + 0.1*(math.Abs(mean[c])+math.Sqrt(m2[c]/n))
					require.LessOrEqual(t, math.Abs(float64(l.RunningMean[c])-wantRM), 1e-6*rmTerms, "%v running mean %d", s, c)
					require.InDelta(t, 0, relErr(float64(l.RunningVar[c]), wantRV), 1e-5, "%v running var %d", s, c)
					std := math.Sqrt(m2[c] / n)
					require.LessOrEqual(t, math.Abs(float64(saved.Mean[c])-mean[c]), 1e-6*max(math.Abs(mean[c]), std), "%v saved mean %d", s, c)
					require.InDelta(t, 0, relErr(float64(saved.InvStd[c]), 1/math.Sqrt(m2[c]/n+l.Eps)), 1e-5, "%v saved invstd %d", s, c)
				}
				require.EqualValues(t, 1, l.NumBatchesTracked)
			}
		}
	})
}

func TestInfer(t *testing.T) {
	rng := newRand(4)
	forEachKernel(t, func(t *testing.T, _ *kernelSet) {
		for _, base := range testShapes {
			for _, s := range bothLayouts(base) {
				x := normal(rng, s.Len(), -1, 2)
				l := New(s.C)
				l.Weight = normal(rng, s.C, 1, 0.5)
				l.Bias = normal(rng, s.C, 0, 1)
				l.RunningMean = normal(rng, s.C, -1, 1)
				for c := range l.RunningVar {
					l.RunningVar[c] = float32(0.5 + rng.Float64()*4)
				}
				y := make([]float32, s.Len())
				require.NoError(t, l.Infer(y, x, s))
				want := make([]float64, len(x))
				for i, v := range x {
					c := channelOf(s, i)
					want[i] = (float64(v)-float64(l.RunningMean[c]))/math.Sqrt(float64(l.RunningVar[c])+l.Eps)*float64(l.Weight[c]) + float64(l.Bias[c])
				}
				if e := normErr(y, want); e > 2e-6 {
					t.Errorf("%v: y norm-wise error %.3g", s, e)
				}

				// Without running statistics, Infer normalizes with the batch's own.
				l.RunningMean, l.RunningVar = nil, nil
				require.NoError(t, l.Infer(y, x, s))
				if e := normErr(y, refForward(x, l.Weight, l.Bias, l.Eps, s)); e > 2e-6 {
					t.Errorf("%v: untracked y norm-wise error %.3g", s, e)
				}
			}
		}
	})
}

func TestBackward(t *testing.T) {
	rng := newRand(5)
	forEachKernel(t, func(t *testing.T, _ *kernelSet) {
		for _, base := range testShapes {
			for _, s := range bothLayouts(base) {
				x := normal(rng, s.Len(), 1, 2)
				dy := normal(rng, s.Len(), 0.3, 1)
				l := New(s.C)
				l.Weight = normal(rng, s.C, 1, 0.5)
				y := make([]float32, s.Len())
				var saved Saved
				require.NoError(t, l.Forward(y, x, s, &saved))
				dx, dw, db := make([]float32, s.Len()), make([]float32, s.C), make([]float32, s.C)
				require.NoError(t, l.Backward(dx, dw, db, dy, x, s, &saved))

				wantDx, wantDw, wantDb, terms := refBackwardTerms(dy, x, l.Weight, l.Eps, s)
				if e := termErr(dx, wantDx, terms); e > 1e-5 {
					t.Errorf("%v: dx norm-wise error %.3g", s, e)
				}
				if e := normErr(dw, wantDw); e > 1e-5 {
					t.Errorf("%v: dWeight norm-wise error %.3g", s, e)
				}
				if e := normErr(db, wantDb); e > 1e-5 {
					t.Errorf("%v: dBias norm-wise error %.3g", s, e)
				}

				// In place over dy, and without the parameter gradients.
				inPlace := slices.Clone(dy)
				require.NoError(t, l.Backward(inPlace, nil, nil, inPlace, x, s, &saved))
				require.Equal(t, dx, inPlace)
			}
		}
	})
}

// TestGradientFiniteDifference checks Backward against central differences of the float64
// reference forward: the loss is Σ dy·y, so its gradient in x is dx.
func TestGradientFiniteDifference(t *testing.T) {
	rng := newRand(6)
	forEachKernel(t, func(t *testing.T, _ *kernelSet) {
		for _, s := range []Shape{{N: 3, C: 2, S: 4}, {N: 5, C: 3, S: 1}, {N: 2, C: 3, S: 5, Layout: ChannelsLast}} {
			x := normal(rng, s.Len(), 0.5, 1)
			dy := normal(rng, s.Len(), 0, 1)
			weight, bias := normal(rng, s.C, 1, 0.3), normal(rng, s.C, 0, 0.3)
			l := New(s.C)
			l.Weight, l.Bias = weight, bias
			var saved Saved
			require.NoError(t, l.Forward(make([]float32, s.Len()), x, s, &saved))
			dx, dw, db := make([]float32, s.Len()), make([]float32, s.C), make([]float32, s.C)
			require.NoError(t, l.Backward(dx, dw, db, dy, x, s, &saved))

			loss := func(x64 []float64, w64, b64 []float64) float64 {
				xs := make([]float32, len(x64))
				for i := range x64 {
					xs[i] = float32(x64[i])
				}
				y := refForward64(x64, w64, b64, l.Eps, s)
				var sum float64
				for i := range y {
					sum += float64(dy[i]) * y[i]
				}
				return sum
			}
			x64, w64, b64 := widen(x), widen(weight), widen(bias)
			const h = 1e-5
			numeric := func(v []float64, i int) float64 {
				old := v[i]
				v[i] = old + h
				up := loss(x64, w64, b64)
				v[i] = old - h
				down := loss(x64, w64, b64)
				v[i] = old
				return (up - down) / (2 * h)
			}
			for i := range x64 {
				if d, want := float64(dx[i]), numeric(x64, i); absErr(d, want) > 1e-4*(1+math.Abs(want)) {
					t.Errorf("%v: dx[%d] = %v, finite difference %v", s, i, d, want)
				}
			}
			for c := range s.C {
				if d, want := float64(dw[c]), numeric(w64, c); absErr(d, want) > 1e-4*(1+math.Abs(want)) {
					t.Errorf("%v: dWeight[%d] = %v, finite difference %v", s, c, d, want)
				}
				if d, want := float64(db[c]), numeric(b64, c); absErr(d, want) > 1e-4*(1+math.Abs(want)) {
					t.Errorf("%v: dBias[%d] = %v, finite difference %v", s, c, d, want)
				}
			}
		}
	})
}

func widen(v []float32) []float64 {
	w := make([]float64, len(v))
	for i := range v {
		w[i] = float64(v[i])
	}
	return w
}

// refForward64 is the training forward entirely in float64.
func refForward64(x, weight, bias []float64, eps float64, s Shape) []float64 {
	mean, m2 := make([]float64, s.C), make([]float64, s.C)
	n := float64(s.N * s.S)
	for i, v := range x {
		mean[channelOf(s, i)] += v / n
	}
	for i, v := range x {
		d := v - mean[channelOf(s, i)]
		m2[channelOf(s, i)] += d * d
	}
	y := make([]float64, len(x))
	for i, v := range x {
		c := channelOf(s, i)
		y[i] = (v-mean[c])/math.Sqrt(m2[c]/n+eps)*weight[c] + bias[c]
	}
	return y
}

// TestMomentsAccuracy holds Moments to its targets against a float64 two-pass reference:
// variance relative error ≤ 2e-6 and |mean - ref| ≤ 1e-6·max(|ref mean|, ref std), with
// means up to 1e4 times the spread, in every layout and kernel set.
func TestMomentsAccuracy(t *testing.T) {
	rng := newRand(7)
	shapes := []Shape{{N: 64, C: 3, S: 1000}, {N: 4096, C: 40, S: 1}, {N: 16, C: 8, S: 3136}}
	if !testing.Short() && !raceEnabled {
		shapes = append(shapes, Shape{N: 1 << 12, C: 1, S: 1 << 13}) // N·S = 2^25
	}
	forEachKernel(t, func(t *testing.T, _ *kernelSet) {
		for _, base := range shapes {
			for _, s := range bothLayouts(base) {
				for _, ratio := range []float64{0, 1, 100, 1e4} {
					x := normal(rng, s.Len(), ratio*3, 3)
					mean, variance := make([]float32, s.C), make([]float32, s.C)
					require.NoError(t, Moments(mean, variance, x, s))
					refMean, refM2 := refMoments(x, s)
					n := float64(s.N * s.S)
					for c := range s.C {
						refVar := refM2[c] / n
						if e := relErr(float64(variance[c]), refVar); e > 2e-6 {
							t.Errorf("%v mean/std %g: channel %d variance rel err %.3g", s, ratio, c, e)
						}
						if d := math.Abs(float64(mean[c]) - refMean[c]); d > 1e-6*max(math.Abs(refMean[c]), math.Sqrt(refVar)) {
							t.Errorf("%v mean/std %g: channel %d mean off by %.3g", s, ratio, c, d)
						}
					}
				}
			}
		}
	})
}

// TestLargeMeanForward checks that normalization itself keeps its accuracy when the mean
// is 1e4 times the spread, where folding the mean into a float32 shift would lose ~1e-3.
func TestLargeMeanForward(t *testing.T) {
	rng := newRand(8)
	forEachKernel(t, func(t *testing.T, _ *kernelSet) {
		for _, s := range bothLayouts(Shape{N: 8, C: 5, S: 100}) {
			x := normal(rng, s.Len(), 3e4, 3)
			l := New(s.C)
			y := make([]float32, s.Len())
			var saved Saved
			require.NoError(t, l.Forward(y, x, s, &saved))
			if e := normErr(y, refForward(x, nil, nil, l.Eps, s)); e > 1e-5 {
				t.Errorf("%v: y norm-wise error %.3g", s, e)
			}
			dy := normal(rng, s.Len(), 0, 1)
			dx := make([]float32, s.Len())
			require.NoError(t, l.Backward(dx, nil, nil, dy, x, s, &saved))
			wantDx, _, _, terms := refBackwardTerms(dy, x, nil, l.Eps, s)
			if e := termErr(dx, wantDx, terms); e > 1e-5 {
				t.Errorf("%v: dx norm-wise error %.3g", s, e)
			}
		}
	})
}

// TestLargeMeanInfer checks Infer with running means on either side of foldLimit
// standard deviations from zero, where it stops folding them into the shift, and 1e4 out,
// where folding would lose ~1e-3; and that a channel's outputs do not depend on whether
// its neighbors' means fold.
func TestLargeMeanInfer(t *testing.T) {
	rng := newRand(10)
	forEachKernel(t, func(t *testing.T, _ *kernelSet) {
		for _, s := range bothLayouts(Shape{N: 8, C: 5, S: 100}) {
			const sd = 3
			far := []float64{-0.99 * foldLimit, 1.01 * foldLimit, 1e4, 0.5, -1e4}
			x := make([]float32, s.Len())
			l := New(s.C)
			for c := range s.C {
				l.RunningMean[c], l.RunningVar[c] = float32(far[c]*sd), sd*sd
			}
			for i := range x {
				x[i] = l.RunningMean[channelOf(s, i)] + float32(sd*rng.NormFloat64())
			}
			y := make([]float32, s.Len())
			require.NoError(t, l.Infer(y, x, s))
			for c := range s.C {
				var got []float32
				var want []float64
				for i, v := range x {
					if channelOf(s, i) == c {
						got = append(got, y[i])
						want = append(want, (float64(v)-float64(l.RunningMean[c]))/math.Sqrt(sd*sd+l.Eps))
					}
				}
				if e := normErr(got, want); e > 1e-6 {
					t.Errorf("%v, mean %g standard deviations out: y norm-wise error %.3g", s, far[c], e)
				}
			}

			// With every mean near zero, the near channels' outputs stay the same bits.
			l.RunningMean[1], l.RunningMean[2], l.RunningMean[4] = 0, 0, 0
			near := make([]float32, s.Len())
			require.NoError(t, l.Infer(near, x, s))
			for i, v := range near {
				if c := channelOf(s, i); math.Abs(far[c]) < foldLimit {
					require.Equal(t, y[i], v, "%v y[%d], channel %d", s, i, c)
				}
			}
		}
	})
}

// TestHugeValues feeds values near 1e19, whose squared deviations overflow float32: the
// statistics must still be right, not infinite.
func TestHugeValues(t *testing.T) {
	rng := newRand(9)
	forEachKernel(t, func(t *testing.T, _ *kernelSet) {
		for _, s := range bothLayouts(Shape{N: 16, C: 3, S: 300}) {
			x := normal(rng, s.Len(), 1e19, 5e18)
			mean, variance := make([]float32, s.C), make([]float32, s.C)
			require.NoError(t, Moments(mean, variance, x, s))
			refMean, refM2 := refMoments(x, s)
			for c := range s.C {
				refVar := refM2[c] / float64(s.N*s.S)
				require.Less(t, relErr(float64(variance[c]), refVar), 2e-6, "%v channel %d variance %v, want %v", s, c, variance[c], refVar)
				require.Less(t, relErr(float64(mean[c]), refMean[c]), 1e-6, "%v channel %d mean", s, c)
			}
		}
	})
}

// TestConstantChannel: a constant channel has variance exactly 0 and normalizes to
// exactly its bias.
func TestConstantChannel(t *testing.T) {
	forEachKernel(t, func(t *testing.T, _ *kernelSet) {
		for _, base := range testShapes {
			for _, s := range bothLayouts(base) {
				// Far from zero, and near it, where a varying channel's mean folds whole
				// into its shift.
				for _, v := range []struct{ at, step float32 }{{1234.567, 1}, {1e-3, 1e-5}} {
					value := func(c int) float32 { return v.at + float32(c)*v.step }
					x := make([]float32, s.Len())
					for i := range x {
						x[i] = value(channelOf(s, i))
					}
					l := New(s.C)
					for c := range s.C {
						l.Bias[c] = float32(c) - 0.25
						l.Weight[c] = 3
					}
					y := make([]float32, s.Len())
					var saved Saved
					require.NoError(t, l.Forward(y, x, s, &saved))
					for i, v := range y {
						require.Equal(t, l.Bias[channelOf(s, i)], v, "%v y[%d]", s, i)
					}
					mean, variance := make([]float32, s.C), make([]float32, s.C)
					require.NoError(t, Moments(mean, variance, x, s))
					for c := range s.C {
						require.Equal(t, float32(0), variance[c], "%v variance[%d]", s, c)
						require.Equal(t, value(c), mean[c], "%v mean[%d]", s, c)
					}
				}
			}
		}
	})
}

// TestNonFinite: a NaN or an infinity in a channel makes that channel's statistics and
// outputs NaN, as PyTorch does, and leaves every other channel exactly as without it.
func TestNonFinite(t *testing.T) {
	rng := newRand(10)
	forEachKernel(t, func(t *testing.T, _ *kernelSet) {
		for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
			for _, s := range bothLayouts(Shape{N: 4, C: 5, S: 9}) {
				x := normal(rng, s.Len(), 0, 1)
				clean := New(s.C)
				yClean := make([]float32, s.Len())
				require.NoError(t, clean.Forward(yClean, x, s, nil))

				const badChannel = 2
				for i := range x {
					if channelOf(s, i) == badChannel {
						x[i] = bad
						break
					}
				}
				l := New(s.C)
				y := make([]float32, s.Len())
				var saved Saved
				require.NoError(t, l.Forward(y, x, s, &saved))
				for i, v := range y {
					if channelOf(s, i) == badChannel {
						require.True(t, math.IsNaN(float64(v)), "%v bad %v: y[%d] = %v", s, bad, i, v)
					} else {
						require.Equal(t, yClean[i], v, "%v bad %v: y[%d]", s, bad, i)
					}
				}
				for c := range s.C {
					nan := math.IsNaN(float64(saved.Mean[c])) && math.IsNaN(float64(saved.InvStd[c]))
					require.Equal(t, c == badChannel, nan, "%v bad %v: channel %d saved (%v, %v)", s, bad, c, saved.Mean[c], saved.InvStd[c])
					require.Equal(t, c == badChannel, math.IsNaN(float64(l.RunningMean[c])), "%v channel %d running mean", s, c)
				}
			}
		}
	})
}

// TestCumulativeAndConventions checks PyTorch's momentum=None, ONNX and Keras semantics
// of the running statistics over three batches.
func TestCumulativeAndConventions(t *testing.T) {
	rng := newRand(11)
	s := Shape{N: 6, C: 3, S: 5}
	batches := [][]float32{normal(rng, s.Len(), 0, 1), normal(rng, s.Len(), 2, 3), normal(rng, s.Len(), -1, 0.5)}
	y := make([]float32, s.Len())

	cum := New(s.C)
	cum.CumulativeAverage = true
	onnx := NewONNX(s.C, 1e-5, 0.9)
	keras := NewKeras(s.C, 1e-3, 0.99)
	wantCum := make([]float64, 2*s.C)
	wantONNX, wantKeras := []float64{0, 0, 0, 1, 1, 1}, []float64{0, 0, 0, 1, 1, 1}
	for b, x := range batches {
		for _, l := range []*BatchNorm{cum, onnx, keras} {
			require.NoError(t, l.Forward(y, x, s, nil))
		}
		mean, m2 := refMoments(x, s)
		n := float64(s.N * s.S)
		for c := range s.C {
			k := float64(b + 1)
			wantCum[c] += (mean[c] - wantCum[c]) / k
			wantCum[s.C+c] += (m2[c]/(n-1) - wantCum[s.C+c]) / k
			wantONNX[c] = 0.9*wantONNX[c] + 0.1*mean[c]
			wantONNX[s.C+c] = 0.9*wantONNX[s.C+c] + 0.1*m2[c]/n
			wantKeras[c] = 0.99*wantKeras[c] + 0.01*mean[c]
			wantKeras[s.C+c] = 0.99*wantKeras[s.C+c] + 0.01*m2[c]/n
		}
	}
	for _, tc := range []struct {
		name string
		l    *BatchNorm
		want []float64
	}{{"cumulative", cum, wantCum}, {"onnx", onnx, wantONNX}, {"keras", keras, wantKeras}} {
		require.EqualValues(t, 3, tc.l.NumBatchesTracked, tc.name)
		for c := range s.C {
			require.InDelta(t, tc.want[c], tc.l.RunningMean[c], 1e-5*(1+math.Abs(tc.want[c])), "%s running mean %d", tc.name, c)
			require.InDelta(t, tc.want[s.C+c], tc.l.RunningVar[c], 1e-5*(1+math.Abs(tc.want[s.C+c])), "%s running var %d", tc.name, c)
		}
	}
	require.Equal(t, 1e-3, keras.Eps)
}

// TestDeterministicTiling: the same input gives the same bits whatever tile size the cache
// budget leads Forward to, and from call to call.
func TestDeterministicTiling(t *testing.T) {
	rng := newRand(12)
	defer func(b, l int) { cacheBudget, lastLevelBudget = b, l }(cacheBudget, lastLevelBudget)
	lastLevelBudget = 0 // block however small the tensor
	forEachKernel(t, func(t *testing.T, _ *kernelSet) {
		for _, s := range bothLayouts(Shape{N: 4, C: 300, S: 7}) {
			x, dy := normal(rng, s.Len(), 1, 2), normal(rng, s.Len(), 0, 1)
			var first []float32
			// A channels-first channel is 112 bytes: Forward runs tiles of 1, 2, 36 and
			// all channels. Backward does not block: it must give the same bits after
			// each of those Forwards.
			for _, budget := range []int{112, 224, 4 << 10, 1 << 30} {
				cacheBudget = budget
				l := New(s.C)
				y, dx := make([]float32, s.Len()), make([]float32, s.Len())
				var saved Saved
				require.NoError(t, l.Forward(y, x, s, &saved))
				require.NoError(t, l.Backward(dx, nil, nil, dy, x, s, &saved))
				got := slices.Concat(y, dx, l.RunningMean, l.RunningVar)
				if first == nil {
					first = got
					continue
				}
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(first[i]) {
						t.Fatalf("%v budget %d: value %d differs: %v vs %v", s, budget, i, got[i], first[i])
					}
				}
			}
		}
	})
}

// TestErrors checks that bad calls fail with the right error and modify nothing.
func TestErrors(t *testing.T) {
	s := Shape{N: 2, C: 3, S: 4}
	fresh := func() (*BatchNorm, []float32, []float32) {
		return New(3), make([]float32, s.Len()), make([]float32, s.Len())
	}
	cases := []struct {
		name string
		want error
		call func(l *BatchNorm, x, y []float32) error
	}{
		{"bad shape", ErrShape, func(l *BatchNorm, x, y []float32) error { return l.Forward(y, x, Shape{N: 2, C: 0, S: 4}, nil) }},
		{"bad layout", ErrShape, func(l *BatchNorm, x, y []float32) error {
			return l.Forward(y, x, Shape{N: 2, C: 3, S: 4, Layout: 7}, nil)
		}},
		{"short x", ErrShape, func(l *BatchNorm, x, y []float32) error { return l.Forward(y, x[1:], s, nil) }},
		{"short y", ErrShape, func(l *BatchNorm, x, y []float32) error { return l.Forward(y[:5], x, s, nil) }},
		{"one value per channel", ErrShape, func(l *BatchNorm, x, y []float32) error {
			return l.Forward(y[:3], x[:3], Shape{N: 1, C: 3, S: 1}, nil)
		}},
		{"weight length", ErrShape, func(l *BatchNorm, x, y []float32) error { l.Weight = l.Weight[:2]; return l.Forward(y, x, s, nil) }},
		{"eps zero", ErrParam, func(l *BatchNorm, x, y []float32) error { l.Eps = 0; return l.Forward(y, x, s, nil) }},
		{"eps NaN", ErrParam, func(l *BatchNorm, x, y []float32) error { l.Eps = math.NaN(); return l.Infer(y, x, s) }},
		{"momentum", ErrParam, func(l *BatchNorm, x, y []float32) error { l.Momentum = 1.5; return l.Forward(y, x, s, nil) }},
		{"half running stats", ErrParam, func(l *BatchNorm, x, y []float32) error { l.RunningVar = nil; return l.Infer(y, x, s) }},
		{"y overlaps x", ErrParam, func(l *BatchNorm, x, y []float32) error {
			both := make([]float32, s.Len()+1)
			return l.Forward(both[1:], both[:s.Len()], s, nil)
		}},
		{"y overlaps weight", ErrParam, func(l *BatchNorm, x, y []float32) error { l.Weight = y[:3]; return l.Forward(y, x, s, nil) }},
		{"saved wrong length", ErrShape, func(l *BatchNorm, x, y []float32) error {
			return l.Forward(y, x, s, &Saved{Mean: make([]float32, 2)})
		}},
		{"backward nil saved", ErrParam, func(l *BatchNorm, x, y []float32) error { return l.Backward(y, nil, nil, x, x, s, nil) }},
		{"backward empty saved", ErrParam, func(l *BatchNorm, x, y []float32) error { return l.Backward(y, nil, nil, x, x, s, &Saved{}) }},
		{"moments overlap", ErrParam, func(l *BatchNorm, x, y []float32) error { return Moments(x[:3], y[:3], x, s) }},
		{"scaleshift channels", ErrShape, func(l *BatchNorm, x, y []float32) error { return ScaleShift(y, x, x[:2], x[:3], s) }},
		{"moments empty batch", ErrShape, func(l *BatchNorm, x, y []float32) error { return Moments(y[:3], y[3:6], nil, Shape{C: 3, S: 1}) }},
	}
	for _, tc := range cases {
		l, x, y := fresh()
		for i := range x {
			x[i] = float32(i)
			y[i] = -7
		}
		before := *l
		rm, rv := slices.Clone(l.RunningMean), slices.Clone(l.RunningVar)
		err := tc.call(l, x, y)
		require.ErrorIs(t, err, tc.want, tc.name)
		require.NotEmpty(t, err.Error())
		for i := range y {
			require.Equal(t, float32(-7), y[i], "%s modified y", tc.name)
		}
		require.Equal(t, rm, l.RunningMean[:len(rm)], "%s modified RunningMean", tc.name)
		if l.RunningVar != nil {
			require.Equal(t, rv, l.RunningVar, "%s modified RunningVar", tc.name)
		}
		require.Equal(t, before.NumBatchesTracked, l.NumBatchesTracked, tc.name)
	}
	require.True(t, errors.Is(Shape{N: -1, C: 1, S: 1}.Validate(), ErrShape))
}

// TestNoAllocations: with a reused Saved, no call allocates.
func TestNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	forEachKernel(t, func(t *testing.T, _ *kernelSet) {
		for _, base := range []Shape{{N: 8, C: 300, S: 1}, {N: 4, C: 6, S: 50}} {
			for _, s := range bothLayouts(base) {
				rng := newRand(13)
				x, dy := normal(rng, s.Len(), 0, 1), normal(rng, s.Len(), 0, 1)
				y, dx := make([]float32, s.Len()), make([]float32, s.Len())
				c1, c2, c3 := make([]float32, s.C), make([]float32, s.C), make([]float32, s.C)
				l := New(s.C)
				var saved Saved
				require.NoError(t, l.Forward(y, x, s, &saved))
				folded, err := l.Fold()
				require.NoError(t, err)
				for name, f := range map[string]func() error{
					"Moments":    func() error { return Moments(c1, c2, x, s) },
					"ScaleShift": func() error { return ScaleShift(y, x, c1, c2, s) },
					"Forward":    func() error { return l.Forward(y, x, s, &saved) },
					"Infer":      func() error { return l.Infer(y, x, s) },
					"Folded":     func() error { return folded.Infer(y, x, s) },
					"Backward":   func() error { return l.Backward(dx, c1, c3, dy, x, s, &saved) },
				} {
					if n := testing.AllocsPerRun(50, func() { require.NoError(t, f()) }); n != 0 {
						t.Errorf("%v %s: %v allocations per call", s, name, n)
					}
				}
			}
		}
	})
}

// TestConcurrentInfer runs Infer from many goroutines on one BatchNorm, and on one Folded
// of it: every result must equal the serial one, and -race must stay quiet.
func TestConcurrentInfer(t *testing.T) {
	rng := newRand(14)
	s := Shape{N: 4, C: 40, S: 25}
	l := New(s.C)
	l.RunningMean = normal(rng, s.C, 0, 1)
	x := normal(rng, s.Len(), 0, 1)
	want := make([]float32, s.Len())
	require.NoError(t, l.Infer(want, x, s))
	folded, err := l.Fold()
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			y := make([]float32, s.Len())
			for range 20 {
				for name, infer := range map[string]func([]float32, []float32, Shape) error{
					"Infer": l.Infer, "Folded": folded.Infer,
				} {
					if err := infer(y, x, s); err != nil {
						errs <- err
						return
					}
					if !slices.Equal(y, want) {
						errs <- errors.New("concurrent " + name + " differs from serial")
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestEmptyBatchInfer: Infer with running statistics on N = 0 is a no-op, not an error,
// and so is Folded.Infer.
func TestEmptyBatchInfer(t *testing.T) {
	s := Shape{N: 0, C: 3, S: 5}
	require.NoError(t, New(3).Infer(nil, nil, s))
	f, err := New(3).Fold()
	require.NoError(t, err)
	require.NoError(t, f.Infer(nil, nil, s))
}
