package bn

import (
	"errors"
	"fmt"
)

// Errors returned by this package wrap one of these, so callers can test with errors.Is.
var (
	// ErrShape reports slice lengths or dimensions that do not match a Shape.
	ErrShape = errors.New("bn: shape mismatch")
	// ErrParam reports a bad parameter: Eps, Momentum, Saved, aliasing outputs, or an
	// unknown kernel set.
	ErrParam = errors.New("bn: invalid parameter")
)

// Layout says where the channel dimension sits in memory.
type Layout uint8

const (
	// ChannelsFirst is x[n][c][s]: PyTorch's NC, NCL, NCHW and NCDHW.
	ChannelsFirst Layout = iota
	// ChannelsLast is x[n][s][c]: NLC, NHWC and NDHWC (PyTorch's channels_last, Keras's
	// default).
	ChannelsLast
)

func (l Layout) String() string {
	switch l {
	case ChannelsFirst:
		return "ChannelsFirst"
	case ChannelsLast:
		return "ChannelsLast"
	}
	return fmt.Sprintf("Layout(%d)", uint8(l))
}

// Shape describes a tensor of N samples, C channels and S spatial positions per channel
// (S = H·W for images, D·H·W for volumes, L for sequences, 1 for a plain [N][C] matrix).
type Shape struct {
	N, C, S int
	Layout  Layout
}

// Len is the number of values in a tensor of this shape, N·C·S.
func (s Shape) Len() int { return s.N * s.C * s.S }

// Validate reports whether the shape is usable: N ≥ 0, C ≥ 1, S ≥ 1, a known layout,
// and N·C·S representable as an int.
func (s Shape) Validate() error {
	if s.N < 0 || s.C < 1 || s.S < 1 {
		return fmt.Errorf("%w: %v: want N ≥ 0, C ≥ 1 and S ≥ 1", ErrShape, s)
	}
	if s.Layout != ChannelsFirst && s.Layout != ChannelsLast {
		return fmt.Errorf("%w: unknown layout %v", ErrShape, s.Layout)
	}
	const maxInt = int(^uint(0) >> 1)
	if s.C > maxInt/s.S || (s.N > 0 && s.C*s.S > maxInt/s.N) {
		return fmt.Errorf("%w: %v has more values than an int can count", ErrShape, s)
	}
	return nil
}

func (s Shape) String() string {
	return fmt.Sprintf("{N:%d C:%d S:%d %v}", s.N, s.C, s.S, s.Layout)
}

// Moments writes each channel's mean and biased variance (the mean of squared deviations)
// over the batch and spatial positions, reading x once. mean and variance have length C.
//
// The statistics come from shifted float32 sums over short chunks merged in float64
// (Welford's method in Chan's parallel form), so they stay accurate when a channel's mean
// is large against its spread. A channel holding a NaN or an infinity gets NaN for both.
func Moments(mean, variance, x []float32, s Shape) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if s.N == 0 {
		return fmt.Errorf("%w: Moments of an empty batch (N = 0)", ErrShape)
	}
	if err := checkLen("x", x, s.Len(), s); err != nil {
		return err
	}
	if err := checkChannels(s, operand{name: "mean", s: mean}, operand{name: "variance", s: variance}); err != nil {
		return err
	}
	if err := checkAliasing(output("mean", mean), output("variance", variance), input("x", x)); err != nil {
		return err
	}
	k := activeKernels()
	p := newPlan(s, 0)
	sc := getScratch()
	defer putScratch(sc)
	for c0 := 0; c0 < s.C; c0 += p.tile {
		c1 := min(c0+p.tile, s.C)
		st := sc.stats(c1 - c0)
		p.moments(k, st, x, c0, c1)
		k.narrow(mean[c0:c1], st.mean, 1)
		k.narrow(variance[c0:c1], st.m2, st.inv)
	}
	return nil
}

// ScaleShift writes y = x·scale[c] + shift[c] for every value x of channel c. scale and
// shift have length C; y may be x itself (in place) but must not otherwise overlap it.
func ScaleShift(y, x, scale, shift []float32, s Shape) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if err := checkLen("x", x, s.Len(), s); err != nil {
		return err
	}
	if err := checkLen("y", y, s.Len(), s); err != nil {
		return err
	}
	if err := checkChannels(s, operand{name: "scale", s: scale}, operand{name: "shift", s: shift}); err != nil {
		return err
	}
	err := checkAliasing(tensorOutput("y", y), tensorInput("x", x), input("scale", scale), input("shift", shift))
	if err != nil {
		return err
	}
	newPlan(s, 0).normalizeAll(activeKernels(), y, x, nil, scale, shift)
	return nil
}
