package bn

import (
	"fmt"
	"math"
	"unsafe"
)

// An operand is a slice handed to a public function, named for error messages.
type operand struct {
	name   string
	s      []float32
	out    bool // written by the call
	tensor bool // x, y, dy or dx: indexed like the tensor, so in-place use is safe
}

func input(name string, s []float32) operand       { return operand{name: name, s: s} }
func output(name string, s []float32) operand      { return operand{name: name, s: s, out: true} }
func tensorInput(name string, s []float32) operand { return operand{name: name, s: s, tensor: true} }
func tensorOutput(name string, s []float32) operand {
	return operand{name: name, s: s, out: true, tensor: true}
}

func checkLen(name string, x []float32, want int, s Shape) error {
	if len(x) != want {
		return fmt.Errorf("%w: len(%s) = %d, want %d for %v", ErrShape, name, len(x), want, s)
	}
	return nil
}

// checkChannels requires every operand to hold one value per channel.
func checkChannels(s Shape, ops ...operand) error {
	for _, op := range ops {
		if err := checkLen(op.name, op.s, s.C, s); err != nil {
			return err
		}
	}
	return nil
}

// checkOptional requires every operand to be nil or hold one value per channel.
func checkOptional(s Shape, ops ...operand) error {
	for _, op := range ops {
		if op.s != nil && len(op.s) != s.C {
			return fmt.Errorf("%w: len(%s) = %d, want %d (C) or nil", ErrShape, op.name, len(op.s), s.C)
		}
	}
	return nil
}

// checkAliasing fails when a slice the call writes shares memory with any other operand.
// The one exception is in-place use: a tensor output may be exactly a tensor input, since
// every value is read before the value at the same index is written.
func checkAliasing(ops ...operand) error {
	for i, a := range ops {
		for _, b := range ops[i+1:] {
			if !a.out && !b.out || !overlap(a.s, b.s) {
				continue
			}
			if a.tensor && b.tensor && a.out != b.out && identical(a.s, b.s) {
				continue
			}
			return fmt.Errorf("%w: %s and %s share memory", ErrParam, a.name, b.name)
		}
	}
	return nil
}

func overlap(a, b []float32) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	pa, pb := uintptr(unsafe.Pointer(unsafe.SliceData(a))), uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return pa < pb+uintptr(len(b))*4 && pb < pa+uintptr(len(a))*4
}

func identical(a, b []float32) bool {
	return len(a) == len(b) && unsafe.SliceData(a) == unsafe.SliceData(b)
}

// checkHyper validates the hyperparameters of a BatchNorm.
func (bn *BatchNorm) checkHyper() error {
	if !(bn.Eps > 0) || math.IsInf(bn.Eps, 1) {
		return fmt.Errorf("%w: Eps = %v, want a finite value > 0", ErrParam, bn.Eps)
	}
	if !(bn.Momentum >= 0 && bn.Momentum <= 1) {
		return fmt.Errorf("%w: Momentum = %v, want a value in [0, 1]", ErrParam, bn.Momentum)
	}
	if (bn.RunningMean == nil) != (bn.RunningVar == nil) {
		return fmt.Errorf("%w: RunningMean and RunningVar must both be set or both be nil", ErrParam)
	}
	if bn.NumBatchesTracked < 0 {
		return fmt.Errorf("%w: NumBatchesTracked = %d, want ≥ 0", ErrParam, bn.NumBatchesTracked)
	}
	return nil
}

// checkParams validates the BatchNorm against a shape: hyperparameters and the lengths of
// its per-channel slices.
func (bn *BatchNorm) checkParams(s Shape) error {
	if err := bn.checkHyper(); err != nil {
		return err
	}
	return checkOptional(s,
		input("Weight", bn.Weight), input("Bias", bn.Bias),
		input("RunningMean", bn.RunningMean), input("RunningVar", bn.RunningVar))
}
