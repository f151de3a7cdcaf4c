// Package bench holds the shapes and operations that the package benchmarks and
// cmd/bnbench both measure, so the two always report the same work.
package bench

import (
	"fmt"
	"math/rand/v2"
	"os"

	"github.com/simdnorm/bn"
)

// A Case is a named tensor shape.
type Case struct {
	Name  string
	Shape bn.Shape
}

// Cases are the shapes measured: a fully-connected layer, early and late layers of a
// ResNet-style network in both layouts, a single small image (per-call overhead), and a
// batch of 14×14 maps, whose runs of 196 values start off vector boundaries.
var Cases = []Case{
	{"NC_256x1024", bn.Shape{N: 256, C: 1024, S: 1}},
	{"NCHW_32x64x56x56", bn.Shape{N: 32, C: 64, S: 56 * 56}},
	{"NHWC_32x64x56x56", bn.Shape{N: 32, C: 64, S: 56 * 56, Layout: bn.ChannelsLast}},
	{"NCHW_32x512x7x7", bn.Shape{N: 32, C: 512, S: 7 * 7}},
	{"NHWC_32x512x7x7", bn.Shape{N: 32, C: 512, S: 7 * 7, Layout: bn.ChannelsLast}},
	{"NCHW_1x256x14x14", bn.Shape{N: 1, C: 256, S: 14 * 14}},
	{"NCHW_64x256x14x14", bn.Shape{N: 64, C: 256, S: 14 * 14}},
}

// SmallCases are small batches, as an inference server sees them, where the work per call
// and per channel weighs most: fully-connected layers of 1024 channels at batch sizes 2,
// 4 and 64, and one 7×7 map of 512 channels in each layout. (Training needs N·S ≥ 2, and
// a workspace runs Forward, so the smallest NC batch is 2.)
var SmallCases = []Case{
	{"NC_2x1024", bn.Shape{N: 2, C: 1024, S: 1}},
	{"NC_4x1024", bn.Shape{N: 4, C: 1024, S: 1}},
	{"NC_64x1024", bn.Shape{N: 64, C: 1024, S: 1}},
	{"NCHW_1x512x7x7", bn.Shape{N: 1, C: 512, S: 7 * 7}},
	{"NHWC_1x512x7x7", bn.Shape{N: 1, C: 512, S: 7 * 7, Layout: bn.ChannelsLast}},
}

// A Workspace holds every buffer the operations need for one shape.
type Workspace struct {
	Shape                   bn.Shape
	X, Y, DY, DX            []float32
	Mean, Var, Scale, Shift []float32
	DWeight, DBias          []float32
	Layer                   *bn.BatchNorm
	Saved                   bn.Saved
	Folded                  *bn.Folded // Layer's parameters after the first Forward

	release []func() // unmaps the tensors in 2 MiB pages
}

// HugePages makes NewWorkspace place the tensors in 2 MiB pages (Linux only). It starts
// as the environment variable BN_BENCH_HUGEPAGES=1 sets it.
//
// With the Go heap's 4 KiB pages, the times of large tensors depend on which physical
// pages a process gets: on an AMD EPYC virtual machine, of eight processes timing NCHW
// 32×512×7×7, six ran some operation, copy included, 1.5 to 2.1 times slower than the
// others for as long as they lived, and no process did so with 2 MiB pages. (The
// package benchmark's spread between runs, which the machine's own phases dominate,
// was no narrower with them.) The default stays the heap's pages, which is what a
// program using bn has.
var HugePages = os.Getenv("BN_BENCH_HUGEPAGES") == "1"

// NewWorkspace fills a workspace for s with random data, runs one Forward and one
// Backward, and folds the layer. Call Release when done with it.
func NewWorkspace(s bn.Shape) *Workspace {
	rng := rand.New(rand.NewPCG(1, 2))
	w := &Workspace{
		Shape: s,
		Mean:  make([]float32, s.C), Var: make([]float32, s.C),
		Scale: make([]float32, s.C), Shift: make([]float32, s.C),
		DWeight: make([]float32, s.C), DBias: make([]float32, s.C),
		Layer: bn.New(s.C),
	}
	n := s.Len()
	w.X, w.Y, w.DY, w.DX = w.tensor(n), w.tensor(n), w.tensor(n), w.tensor(n)
	for i := range w.X {
		w.X[i] = float32(rng.NormFloat64()*2 + 1)
		w.DY[i] = float32(rng.NormFloat64())
	}
	for c := range s.C {
		w.Scale[c], w.Shift[c] = float32(rng.Float64()+0.5), float32(rng.NormFloat64())
	}
	// Forward readies Saved for Backward. Both write their outputs once, so that the
	// first touch of fresh pages (which took the first Backward on a 25 MB tensor twice
	// as long as the next) falls outside the timings.
	err := w.Layer.Forward(w.Y, w.X, s, &w.Saved)
	if err == nil {
		err = w.Layer.Backward(w.DX, w.DWeight, w.DBias, w.DY, w.X, s, &w.Saved)
	}
	if err == nil {
		w.Folded, err = w.Layer.Fold()
	}
	if err != nil {
		panic(fmt.Sprintf("bench: %v: %v", s, err))
	}
	return w
}

// tensor returns n zeroed float32s, in 2 MiB pages when HugePages is set.
func (w *Workspace) tensor(n int) []float32 {
	if !HugePages || n == 0 {
		return make([]float32, n)
	}
	t, release, err := hugeFloats(n)
	if err != nil {
		panic(fmt.Sprintf("bench: %v", err))
	}
	w.release = append(w.release, release)
	return t
}

// Release returns the tensors' memory when they are in 2 MiB pages; w must not be used
// after it.
func (w *Workspace) Release() {
	for _, r := range w.release {
		r()
	}
	w.release = nil
}

// An Op is one measured operation.
type Op struct {
	Name string
	Run  func(w *Workspace) error
}

// Copy is the roofline: it reads x once and writes y once, as ScaleShift and Infer do.
var Copy = Op{"copy", func(w *Workspace) error { copy(w.Y, w.X); return nil }}

// Ops are the library's operations, in the order reports list them.
var Ops = []Op{
	{"Moments", func(w *Workspace) error { return bn.Moments(w.Mean, w.Var, w.X, w.Shape) }},
	{"ScaleShift", func(w *Workspace) error { return bn.ScaleShift(w.Y, w.X, w.Scale, w.Shift, w.Shape) }},
	{"Forward", func(w *Workspace) error { return w.Layer.Forward(w.Y, w.X, w.Shape, &w.Saved) }},
	{"Infer", func(w *Workspace) error { return w.Layer.Infer(w.Y, w.X, w.Shape) }},
	{"Folded", func(w *Workspace) error { return w.Folded.Infer(w.Y, w.X, w.Shape) }},
	{"Backward", func(w *Workspace) error {
		return w.Layer.Backward(w.DX, w.DWeight, w.DBias, w.DY, w.X, w.Shape, &w.Saved)
	}},
}
