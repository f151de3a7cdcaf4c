// Package bench holds the shapes and operations that the package benchmarks and
// cmd/bnbench both measure, so the two always report the same work.
package bench

import (
	"fmt"
	"math/rand/v2"

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

// A Workspace holds every buffer the operations need for one shape.
type Workspace struct {
	Shape                   bn.Shape
	X, Y, DY, DX            []float32
	Mean, Var, Scale, Shift []float32
	DWeight, DBias          []float32
	Layer                   *bn.BatchNorm
	Saved                   bn.Saved
}

// NewWorkspace fills a workspace for s with random data and runs one Forward and one
// Backward.
func NewWorkspace(s bn.Shape) *Workspace {
	rng := rand.New(rand.NewPCG(1, 2))
	w := &Workspace{
		Shape: s,
		X:     make([]float32, s.Len()), Y: make([]float32, s.Len()),
		DY: make([]float32, s.Len()), DX: make([]float32, s.Len()),
		Mean: make([]float32, s.C), Var: make([]float32, s.C),
		Scale: make([]float32, s.C), Shift: make([]float32, s.C),
		DWeight: make([]float32, s.C), DBias: make([]float32, s.C),
		Layer: bn.New(s.C),
	}
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
	if err != nil {
		panic(fmt.Sprintf("bench: %v: %v", s, err))
	}
	return w
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
	{"Backward", func(w *Workspace) error {
		return w.Layer.Backward(w.DX, w.DWeight, w.DBias, w.DY, w.X, w.Shape, &w.Saved)
	}},
}
