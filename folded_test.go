package bn

import (
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// farLayer returns a layer over c channels with random parameters whose running means
// lie from 0 to 1e4 standard deviations out, so that some channels fold whole and some
// keep a center, as far says: every channel near zero (false) or every tenth far out.
func farLayer(seed uint64, c int, far bool) *BatchNorm {
	rng := newRand(seed)
	l := New(c)
	l.Weight = normal(rng, c, 1, 0.5)
	l.Bias = normal(rng, c, 0, 1)
	for i := range c {
		sd := 0.5 + rng.Float64()*2
		l.RunningVar[i] = float32(sd * sd)
		l.RunningMean[i] = float32(sd * rng.NormFloat64())
		if far && i%10 == 3 {
			l.RunningMean[i] = float32(sd * 1e4)
		}
	}
	return l
}

// TestFolded: Folded.Infer writes Infer's bits on every kernel set, in place too, and
// keeps them when the layer changes after Fold.
func TestFolded(t *testing.T) {
	rng := newRand(31)
	forEachKernel(t, func(t *testing.T, _ *kernelSet) {
		shapes := append(slices.Clone(testShapes), Shape{N: 3, C: 2500, S: 1})
		for _, base := range shapes {
			for _, s := range bothLayouts(base) {
				for _, far := range []bool{false, true} {
					l := farLayer(uint64(s.C), s.C, far)
					if s.C == 3 {
						l.Weight, l.Bias = nil, nil
					}
					x := make([]float32, s.Len())
					for i := range x {
						c := channelOf(s, i)
						x[i] = l.RunningMean[c] + float32(math.Sqrt(float64(l.RunningVar[c]))*rng.NormFloat64())
					}
					want := make([]float32, s.Len())
					require.NoError(t, l.Infer(want, x, s))
					f, err := l.Fold()
					require.NoError(t, err)
					require.Equal(t, !far || s.C < 4, f.center == nil, "%v: center", s)

					got := make([]float32, s.Len())
					require.NoError(t, f.Infer(got, x, s))
					requireSameBits(t, want, got, "%v far %v", s, far)

					for c := range s.C {
						l.RunningMean[c]++
					}
					l.Weight = nil
					inPlace := slices.Clone(x)
					require.NoError(t, f.Infer(inPlace, inPlace, s))
					requireSameBits(t, want, inPlace, "%v far %v, in place after the layer changed", s, far)
				}
			}
		}
	})
}

func requireSameBits(t *testing.T, want, got []float32, msg string, args ...any) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf(msg+": y[%d] = %v, Infer wrote %v", append(args, i, got[i], want[i])...)
		}
	}
}

func TestFoldedErrors(t *testing.T) {
	s := Shape{N: 2, C: 3, S: 4}
	f, err := New(3).Fold()
	require.NoError(t, err)
	x, y := make([]float32, s.Len()), make([]float32, s.Len())
	for name, tc := range map[string]struct {
		want error
		call func() error
	}{
		"no running statistics": {ErrParam, func() error {
			l := New(3)
			l.RunningMean, l.RunningVar = nil, nil
			_, err := l.Fold()
			return err
		}},
		"half running statistics": {ErrParam, func() error { l := New(3); l.RunningVar = nil; _, err := l.Fold(); return err }},
		"no channels":             {ErrShape, func() error { _, err := New(0).Fold(); return err }},
		"running var length":      {ErrShape, func() error { l := New(3); l.RunningVar = l.RunningVar[:2]; _, err := l.Fold(); return err }},
		"weight length":           {ErrShape, func() error { l := New(3); l.Weight = l.Weight[:2]; _, err := l.Fold(); return err }},
		"eps":                     {ErrParam, func() error { l := New(3); l.Eps = -1; _, err := l.Fold(); return err }},
		"channels":                {ErrShape, func() error { return f.Infer(y[:16], x[:16], Shape{N: 2, C: 2, S: 4}) }},
		"bad shape":               {ErrShape, func() error { return f.Infer(y, x, Shape{N: 2, C: 3, S: 4, Layout: 9}) }},
		"short x":                 {ErrShape, func() error { return f.Infer(y, x[1:], s) }},
		"short y":                 {ErrShape, func() error { return f.Infer(y[1:], x, s) }},
		"zero Folded":             {ErrShape, func() error { return new(Folded).Infer(y, x, s) }},
		"y overlaps x": {ErrParam, func() error {
			both := make([]float32, s.Len()+1)
			return f.Infer(both[1:], both[:s.Len()], s)
		}},
	} {
		for i := range y {
			y[i] = -7
		}
		err := tc.call()
		require.ErrorIs(t, err, tc.want, name)
		require.NotEmpty(t, err.Error(), name)
		require.Equal(t, slices.Repeat([]float32{-7}, len(y)), y, "%s wrote y", name)
	}
}
