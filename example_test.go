package bn_test

import (
	"fmt"

	"github.com/simdnorm/bn"
)

// A training step and inference with a batch-norm layer over 2 channels of 2×2 images.
func Example() {
	s := bn.Shape{N: 2, C: 2, S: 4} // NCHW 2×2×2×2
	x := []float32{
		1, 2, 3, 4, 10, 10, 10, 10, // sample 0: channel 0, channel 1
		5, 6, 7, 8, 10, 10, 10, 10, // sample 1
	}
	layer := bn.New(s.C) // PyTorch defaults: eps 1e-5, momentum 0.1

	// Training: normalize with the batch statistics and keep what Backward needs.
	y := make([]float32, s.Len())
	var saved bn.Saved
	if err := layer.Forward(y, x, s, &saved); err != nil {
		panic(err)
	}
	fmt.Printf("y[0:4] = %.3f\n", y[0:4])
	fmt.Printf("y[4:8] = %.3f (a constant channel normalizes to its bias)\n", y[4:8])
	fmt.Printf("running mean %.2f, running var %.3f\n", layer.RunningMean, layer.RunningVar)

	// Backward: gradients of a loss with respect to x, γ and β.
	dy := make([]float32, s.Len())
	dy[0] = 1
	dx, dWeight, dBias := make([]float32, s.Len()), make([]float32, s.C), make([]float32, s.C)
	if err := layer.Backward(dx, dWeight, dBias, dy, x, s, &saved); err != nil {
		panic(err)
	}
	fmt.Printf("dWeight %.3f, dBias %.0f\n", dWeight, dBias)

	// Inference: the running statistics, folded into one scale and shift per channel.
	if err := layer.Infer(y, x, s); err != nil {
		panic(err)
	}
	fmt.Printf("inference y[0:4] = %.3f\n", y[0:4])
	// Output:
	// y[0:4] = [-1.528 -1.091 -0.655 -0.218]
	// y[4:8] = [0.000 0.000 0.000 0.000] (a constant channel normalizes to its bias)
	// running mean [0.45 1.00], running var [1.500 0.900]
	// dWeight [-1.528 0.000], dBias [1 0]
	// inference y[0:4] = [0.449 1.266 2.082 2.899]
}

// An inference server folds a trained layer once and normalizes every request with it:
// the same outputs as Infer, without recomputing 1/σ and the fold of γ and β per call.
func ExampleBatchNorm_Fold() {
	s := bn.Shape{N: 1, C: 2, S: 3} // one request: 2 channels of 3 values
	layer := bn.New(s.C)
	layer.RunningMean = []float32{10, -1}
	layer.RunningVar = []float32{4, 0.25}
	layer.Weight = []float32{1, 2}

	folded, err := layer.Fold()
	if err != nil {
		panic(err)
	}
	x := []float32{8, 10, 12, -1, -0.5, 0}
	y := make([]float32, s.Len())
	if err := folded.Infer(y, x, s); err != nil {
		panic(err)
	}
	fmt.Printf("%.3f\n", y)

	// Later changes to the layer do not reach the folded copy: fold again after them.
	layer.RunningMean[0] = 0
	if err := folded.Infer(y, x, s); err != nil {
		panic(err)
	}
	fmt.Printf("%.3f\n", y[:3])
	// Output:
	// [-1.000 0.000 1.000 0.000 2.000 4.000]
	// [-1.000 0.000 1.000]
}

// Moments gives per-channel statistics that stay exact where a naive E[x²]-E[x]² fails:
// here the mean is 1e4 times the spread.
func ExampleMoments() {
	s := bn.Shape{N: 4, C: 1, S: 1}
	x := []float32{10000.5, 9999.5, 10000.5, 9999.5}
	mean, variance := make([]float32, 1), make([]float32, 1)
	if err := bn.Moments(mean, variance, x, s); err != nil {
		panic(err)
	}
	fmt.Println(mean[0], variance[0])
	// Output: 10000 0.25
}

// Errors say what was wrong; nothing is written when a call fails.
func ExampleBatchNorm_Forward_errors() {
	layer := bn.New(3)
	s := bn.Shape{N: 2, C: 3, S: 5}
	err := layer.Forward(make([]float32, 30), make([]float32, 29), s, nil)
	fmt.Println(err)
	// Output: bn: shape mismatch: len(x) = 29, want 30 for {N:2 C:3 S:5 ChannelsFirst}
}

// Pin a kernel set, for a benchmark or a comparison; the environment variable BN_KERNEL
// does the same at startup.
func ExampleUseKernel() {
	defer bn.UseKernel(bn.Kernel()) // put back the set chosen at init
	if err := bn.UseKernel("generic"); err != nil {
		panic(err)
	}
	fmt.Println(bn.Kernel())
	// Output: generic
}
