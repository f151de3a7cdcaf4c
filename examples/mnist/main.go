// Command mnist reproduces the MNIST experiment of Ioffe and Szegedy, "Batch
// Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift"
// (2015), §4.1 and Figure 1, with this module's bn.BatchNorm: a 784-100-100-100-10 sigmoid
// network trained with plain SGD on mini-batches of 60, with and without batch
// normalization before each sigmoid.
//
// From the examples directory:
//
//	go run ./mnist                # Figure 1: test accuracy and sigmoid input percentiles
//	go run ./mnist -steps 50000   # the paper's training length
//	go run ./mnist -lr-sweep      # learning rates ×1, ×5, ×10, ×30
//	go run ./mnist -depth-sweep   # 3, 10, 20 and 50 hidden layers
//
// PNG plots and CSV histories go to mnist/results (see -out). The last line printed is
// the two networks' final test accuracy in the paper's configuration.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/simdnorm/bn"
)

// Defaults of the sweeps, which train 8 networks each and so take fewer steps than the
// default run to finish in minutes.
const (
	defaultSteps    = 10000
	lrSweepSteps    = 5000
	depthSweepSteps = 1000
	examplesModule  = "github.com/simdnorm/bn/examples"
	defaultOutDir   = "mnist/results"

	// The paper gives neither the learning rate nor the initial weights' scale beyond
	// "small random Gaussian values"; these are ours (see RESULTS.md for -init-std 0.1).
	defaultLR      = 0.5
	defaultInitStd = 0.01
)

func main() {
	var (
		steps      = flag.Int("steps", 0, fmt.Sprintf("training steps per network (the paper: 50000; default %d, or %d with -lr-sweep and %d with -depth-sweep)", defaultSteps, lrSweepSteps, depthSweepSteps))
		batch      = flag.Int("batch", 60, "mini-batch size (the paper: 60)")
		lr         = flag.Float64("lr", defaultLR, "base SGD learning rate")
		initStd    = flag.Float64("init-std", defaultInitStd, "standard deviation of the Gaussian initial weights")
		seed       = flag.Uint64("seed", 1, "random seed for initial weights and mini-batch order")
		evalEvery  = flag.Int("eval-every", 0, "steps between test-set evaluations (0: steps/40)")
		out        = flag.String("out", "", "directory for plots and CSV files (default mnist/results in the examples module)")
		dataDir    = flag.String("data", "", "directory of the gzipped MNIST IDX files (default: the copy in the GoMNIST module)")
		parallel   = flag.Int("parallel", runtime.NumCPU(), "networks trained at once")
		lrSweep    = flag.Bool("lr-sweep", false, "compare learning rates ×1, ×5, ×10 and ×30 instead of Figure 1")
		depthSweep = flag.Bool("depth-sweep", false, "compare 3, 10, 20 and 50 hidden layers instead of Figure 1")
	)
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *lrSweep && *depthSweep {
		fail(fmt.Errorf("choose one of -lr-sweep and -depth-sweep"))
	}
	if !set["steps"] {
		switch {
		case *lrSweep:
			*steps = lrSweepSteps
		case *depthSweep:
			*steps = depthSweepSteps
		default:
			*steps = defaultSteps
		}
	}
	if *steps < 1 || *batch < 2 || *lr <= 0 || *initStd <= 0 {
		fail(fmt.Errorf("need -steps ≥ 1, -batch ≥ 2 (BN needs two values per channel), -lr > 0 and -init-std > 0"))
	}
	if *evalEvery <= 0 {
		*evalEvery = max(*steps/40, 1)
	}
	if *out == "" {
		*out = defaultOut()
	}

	start := time.Now()
	fmt.Printf("loading MNIST ... ")
	train, test, err := LoadMNIST(*dataDir)
	if err != nil {
		fail(err)
	}
	fmt.Printf("%d training and %d test images (%v); bn kernels: %s\n", train.N, test.N,
		time.Since(start).Round(time.Millisecond), bn.Kernel())

	e := &Experiment{Train: train, Test: test, Parallel: *parallel, Out: *out, W: os.Stdout,
		Base: Config{Hidden: []int{100, 100, 100}, LR: *lr, Steps: *steps, Batch: *batch,
			EvalEvery: *evalEvery, InitStd: *initStd, Seed: *seed}}
	var base, norm Result
	switch {
	case *lrSweep:
		base, norm, err = e.LRSweep()
	case *depthSweep:
		base, norm, err = e.DepthSweep()
	default:
		base, norm, err = e.Figure1()
	}
	if err != nil {
		fail(err)
	}
	fmt.Printf("total time %v\n", time.Since(start).Round(time.Second))
	fmt.Printf("final test accuracy: baseline %.4f, batchnorm %.4f\n", base.FinalAcc, norm.FinalAcc)
}

// defaultOut is mnist/results inside the examples module, found by walking up from the
// working directory, so `go run ./mnist` from examples/ and `go run ./examples/mnist`
// style invocations from elsewhere in the module write to the same place.
func defaultOut() string {
	dir, err := os.Getwd()
	if err != nil {
		return defaultOutDir
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			if strings.Contains(string(data), "module "+examplesModule+"\n") {
				return filepath.Join(dir, "mnist", "results")
			}
			if sub := filepath.Join(dir, "examples", "go.mod"); fileContains(sub, "module "+examplesModule+"\n") {
				return filepath.Join(dir, "examples", "mnist", "results")
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return defaultOutDir
		}
		dir = parent
	}
}

func fileContains(path, s string) bool {
	data, err := os.ReadFile(path)
	return err == nil && strings.Contains(string(data), s)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mnist:", err)
	os.Exit(1)
}
