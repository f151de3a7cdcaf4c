package main

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/simdnorm/bn"
)

// TestBatchNormLayerAtExampleShapes checks bn.BatchNorm against the paper's equations
// (Algorithm 1 and the backward pass of §3), computed in float64, at the shapes this
// example uses: a mini-batch of 60 and an evaluation chunk of 500 rows of 100 units.
func TestBatchNormLayerAtExampleShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	for _, n := range []int{60, evalChunk} {
		const c = 100
		s := bn.Shape{N: n, C: c, S: 1}
		layer := bn.New(c)
		for j := range c {
			layer.Weight[j] = float32(1 + 0.5*rng.NormFloat64())
			layer.Bias[j] = float32(rng.NormFloat64())
		}
		x, dy := make([]float32, n*c), make([]float32, n*c)
		for i := range x {
			x[i] = float32(3*rng.NormFloat64() + float64(i%c)*0.1)
			dy[i] = float32(rng.NormFloat64())
		}
		y, dx := make([]float32, n*c), make([]float32, n*c)
		dw, db := make([]float32, c), make([]float32, c)
		var saved bn.Saved
		if err := layer.Forward(y, x, s, &saved); err != nil {
			t.Fatal(err)
		}
		if err := layer.Backward(dx, dw, db, dy, x, s, &saved); err != nil {
			t.Fatal(err)
		}
		yInfer := make([]float32, n*c)
		if err := layer.Infer(yInfer, x, s); err != nil {
			t.Fatal(err)
		}
		var worst [6]float64 // y, dx, dWeight, dBias, running stats, Infer
		note := func(k int, got float32, want, scale float64) {
			worst[k] = math.Max(worst[k], math.Abs(float64(got)-want)/scale)
		}
		for j := range c {
			var mean, v float64
			for r := range n {
				mean += float64(x[r*c+j])
			}
			mean /= float64(n)
			for r := range n {
				d := float64(x[r*c+j]) - mean
				v += d * d
			}
			v /= float64(n)
			inv := 1 / math.Sqrt(v+layer.Eps)
			g, b := float64(layer.Weight[j]), float64(layer.Bias[j])
			var sumDy, sumDyXhat float64
			for r := range n {
				xhat := (float64(x[r*c+j]) - mean) * inv
				note(0, y[r*c+j], xhat*g+b, 1+math.Abs(g))
				sumDy += float64(dy[r*c+j])
				sumDyXhat += float64(dy[r*c+j]) * xhat
			}
			for r := range n {
				xhat := (float64(x[r*c+j]) - mean) * inv
				want := g * inv * (float64(dy[r*c+j]) - sumDy/float64(n) - xhat*sumDyXhat/float64(n))
				note(1, dx[r*c+j], want, math.Abs(g)*inv)
			}
			note(2, dw[j], sumDyXhat, math.Sqrt(float64(n)))
			note(3, db[j], sumDy, math.Sqrt(float64(n)))
			// PyTorch's running statistics after one batch from (0, 1), momentum 0.1,
			// with the unbiased variance.
			rm, rv := 0.1*mean, 0.9+0.1*v*float64(n)/float64(n-1)
			note(4, layer.RunningMean[j], rm, 1+math.Abs(rm))
			note(4, layer.RunningVar[j], rv, rv)
			for r := range n {
				want := (float64(x[r*c+j])-float64(layer.RunningMean[j]))/math.Sqrt(float64(layer.RunningVar[j])+layer.Eps)*g + b
				note(5, yInfer[r*c+j], want, 1+math.Abs(want))
			}
		}
		for k, name := range []string{"y", "dx", "dWeight", "dBias", "running stats", "Infer"} {
			if worst[k] > 1e-5 {
				t.Errorf("N=%d: %s differs from the float64 reference by %.2g (relative)", n, name, worst[k])
			}
		}
		t.Logf("N=%d: worst relative errors %.2g", n, worst)
	}
}
