package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// tinyNet is a small network with BN layers whose parameters are all away from their
// defaults, so every term of Backward matters: 6 inputs, hidden layers of 5 and 4 sigmoid
// units, 3 classes, and a batch of 8.
func tinyNet(batchNorm bool) (net *Net, x []float32, labels []uint8) {
	rng := rand.New(rand.NewPCG(3, 4))
	net = NewNet([]int{6, 5, 4, 3}, batchNorm, 0.8, rng)
	_, params, _ := net.Params()
	for _, p := range params {
		for i := range p {
			p[i] += float32(0.3 * rng.NormFloat64())
		}
	}
	const n = 8
	x = make([]float32, n*6)
	for i := range x {
		x[i] = float32(rng.NormFloat64() + 0.5)
	}
	labels = make([]uint8, n)
	for i := range labels {
		labels[i] = uint8(rng.IntN(3))
	}
	return net, x, labels
}

// loss is the training-mode loss of net on the batch, in float64.
func loss(t *testing.T, net *Net, x []float32, labels []uint8) float64 {
	if err := net.Forward(x, len(labels)); err != nil {
		t.Fatal(err)
	}
	return net.Loss(labels)
}

// checkGradients compares grads with central differences of the loss along random
// directions, one parameter tensor at a time, and returns the mismatches. The difference
// uses the perturbations float32 actually stores, and the loss is summed in float64, so
// the comparison is limited by the O(h²) truncation and float32 rounding of the forward
// pass only: a relative tolerance of 1% leaves room for both and none for a wrong term.
func checkGradients(t *testing.T, net *Net, x []float32, labels []uint8, grads [][]float32) (bad []string, worst float64) {
	const h, tol, dirs = 1e-2, 1e-2, 3
	rng := rand.New(rand.NewPCG(5, 6))
	names, params, _ := net.Params()
	for i, p := range params {
		for d := range dirs {
			v := make([]float64, len(p))
			var norm float64
			for j := range v {
				v[j] = rng.NormFloat64()
				norm += v[j] * v[j]
			}
			orig := append([]float32(nil), p...)
			plus, minus := make([]float32, len(p)), make([]float32, len(p))
			for j := range p {
				plus[j] = float32(float64(orig[j]) + h*v[j]/math.Sqrt(norm))
				minus[j] = float32(float64(orig[j]) - h*v[j]/math.Sqrt(norm))
			}
			copy(p, plus)
			lp := loss(t, net, x, labels)
			copy(p, minus)
			lm := loss(t, net, x, labels)
			copy(p, orig)
			numeric := lp - lm
			var analytic float64
			for j := range p {
				analytic += float64(grads[i][j]) * (float64(plus[j]) - float64(minus[j]))
			}
			rel := math.Abs(numeric-analytic) / math.Max(math.Abs(analytic), 1e-7)
			worst = math.Max(worst, rel)
			if rel > tol {
				bad = append(bad, fmt.Sprintf("%s direction %d: finite difference %.6g, Backward %.6g (relative error %.2g)",
					names[i], d, numeric, analytic, rel))
			}
		}
	}
	return bad, worst
}

// backward runs one Forward and Backward and returns a copy of the gradients.
func backward(t *testing.T, net *Net, x []float32, labels []uint8) [][]float32 {
	loss(t, net, x, labels)
	if err := net.Backward(x, labels); err != nil {
		t.Fatal(err)
	}
	_, _, grads := net.Params()
	out := make([][]float32, len(grads))
	for i, g := range grads {
		out[i] = append([]float32(nil), g...)
	}
	return out
}

func TestBackwardMatchesFiniteDifferences(t *testing.T) {
	for _, batchNorm := range []bool{true, false} {
		t.Run(netName(batchNorm), func(t *testing.T) {
			net, x, labels := tinyNet(batchNorm)
			grads := backward(t, net, x, labels)
			bad, worst := checkGradients(t, net, x, labels, grads)
			for _, b := range bad {
				t.Error(b)
			}
			t.Logf("worst relative error %.2g", worst)
		})
	}
}

// TestGradientCheckCatchesErrors makes sure the check above can fail: a gradient with
// one tensor off by 5% (a plausible bug, such as a missing term in BN's backward pass)
// must be reported.
func TestGradientCheckCatchesErrors(t *testing.T) {
	net, x, labels := tinyNet(true)
	grads := backward(t, net, x, labels)
	names, _, _ := net.Params()
	for i := range grads {
		wrong := make([][]float32, len(grads))
		copy(wrong, grads)
		wrong[i] = append([]float32(nil), grads[i]...)
		for j := range wrong[i] {
			wrong[i][j] *= 1.05
		}
		if bad, _ := checkGradients(t, net, x, labels, wrong); len(bad) == 0 {
			t.Errorf("a 5%% error in the gradient of %s went unnoticed", names[i])
		}
	}
}
