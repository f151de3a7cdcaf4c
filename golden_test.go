package bn

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// goldenCase is a fixture written by testdata/gen_golden.py from PyTorch's
// torch.nn.functional.batch_norm and autograd, computed in float64 on float32 inputs.
type goldenCase struct {
	Name              string
	N, C, S           int
	Layout            string
	Eps               float64
	Momentum          *float64 // nil is PyTorch's momentum=None
	Affine            bool
	Batches           [][]float32
	Weight, Bias      []float32
	RunningMean0      []float32 `json:"running_mean0"`
	RunningVar0       []float32 `json:"running_var0"`
	Y                 []float64
	RunningMean       []float64 `json:"running_mean"`
	RunningVar        []float64 `json:"running_var"`
	NumBatchesTracked int64     `json:"num_batches_tracked"`
	YEval             []float64 `json:"y_eval"`
	Dy                []float32
	Dx                []float64
	DWeight, DBias    []float64
}

func loadGolden(t *testing.T) []goldenCase {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no fixtures: run testdata/gen_golden.py")
	var cases []goldenCase
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var g goldenCase
		require.NoError(t, json.Unmarshal(data, &g), f)
		cases = append(cases, g)
	}
	return cases
}

// TestGoldenPyTorch replays each fixture's training steps, evaluation and backward pass
// with every kernel set and compares with PyTorch, norm-wise.
func TestGoldenPyTorch(t *testing.T) {
	cases := loadGolden(t)
	forEachKernel(t, func(t *testing.T, _ *kernelSet) {
		for _, g := range cases {
			s := Shape{N: g.N, C: g.C, S: g.S}
			if g.Layout == "ChannelsLast" {
				s.Layout = ChannelsLast
			}
			l := &BatchNorm{Eps: g.Eps}
			l.RunningMean = append([]float32(nil), g.RunningMean0...)
			l.RunningVar = append([]float32(nil), g.RunningVar0...)
			if g.Momentum == nil {
				l.CumulativeAverage = true
			} else {
				l.Momentum = *g.Momentum
			}
			if g.Affine {
				l.Weight, l.Bias = g.Weight, g.Bias
			}
			y := make([]float32, s.Len())
			var saved Saved
			for _, x := range g.Batches {
				require.NoError(t, l.Forward(y, x, s, &saved), g.Name)
			}
			x := g.Batches[len(g.Batches)-1]
			within := func(what string, got []float32, want []float64, tol float64) {
				t.Helper()
				if e := normErr(got, want); e > tol {
					t.Errorf("%s: %s differs from PyTorch: norm-wise error %.3g > %.1g", g.Name, what, e, tol)
				}
			}
			within("training y", y, g.Y, 2e-6)
			within("running mean", l.RunningMean, g.RunningMean, 1e-6)
			within("running var", l.RunningVar, g.RunningVar, 1e-6)
			require.Equal(t, g.NumBatchesTracked, l.NumBatchesTracked, g.Name)

			require.NoError(t, l.Infer(y, x, s), g.Name)
			within("eval y", y, g.YEval, 2e-6)

			dx, dw, db := make([]float32, s.Len()), make([]float32, s.C), make([]float32, s.C)
			require.NoError(t, l.Backward(dx, dw, db, g.Dy, x, s, &saved), g.Name)
			_, _, _, terms := refBackwardTerms(g.Dy, x, l.Weight, l.Eps, s)
			if e := termErr(dx, g.Dx, terms); e > 1e-5 {
				t.Errorf("%s: dx differs from PyTorch by %.3g of its terms", g.Name, e)
			}
			if g.Affine {
				within("dweight", dw, g.DWeight, 1e-5)
				within("dbias", db, g.DBias, 1e-5)
			}
		}
	})
}
