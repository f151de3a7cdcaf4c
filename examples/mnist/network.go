package main

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/simdnorm/bn"
)

// Net is the paper's fully-connected classifier: sigmoid hidden layers and a softmax
// output trained with cross-entropy. With batch normalization each hidden layer computes
// sigmoid(BN(x·W)); without, sigmoid(x·W + b). The BN layer's β takes the place of the
// bias b, which the normalization would cancel anyway.
//
// Activations are row-major [N][C] matrices: bn.Shape{N, C, S: 1}.
type Net struct {
	Sizes []int       // layer widths: input, hidden..., output
	W     [][]float32 // W[l] is Sizes[l]×Sizes[l+1], row-major
	B     [][]float32 // B[l] is the bias of layer l; nil for normalized hidden layers
	Norms []*bn.BatchNorm
	// Gradients of the last Backward, shaped as the parameters they belong to.
	DW, DB, DGamma, DBeta [][]float32

	saved []bn.Saved
	batch int         // rows the buffers below hold
	z     [][]float32 // hidden layer l before normalization: x·W (+ b)
	u     [][]float32 // hidden layer l's sigmoid input: BN(z), or z itself
	a     [][]float32 // hidden layer l's output: sigmoid(u)
	logit []float32   // output layer, then softmax probabilities in place
	dA    [2][]float32
	dU    []float32
	dZ    []float32
}

// MNISTSizes are the layer widths of an MNIST classifier with the given hidden widths.
func MNISTSizes(hidden ...int) []int {
	return append(append([]int{ImageSize}, hidden...), 10)
}

// NewNet returns a network with the given layer widths (input, hidden..., classes), its
// weights drawn from a Gaussian with standard deviation initStd, biases zero, and a
// bn.BatchNorm with PyTorch's defaults before every sigmoid if batchNorm is set.
func NewNet(sizes []int, batchNorm bool, initStd float64, rng *rand.Rand) *Net {
	sizes = append([]int(nil), sizes...)
	L := len(sizes) - 1
	nt := &Net{Sizes: sizes, W: make([][]float32, L), B: make([][]float32, L),
		DW: make([][]float32, L), DB: make([][]float32, L), Norms: make([]*bn.BatchNorm, L-1),
		DGamma: make([][]float32, L-1), DBeta: make([][]float32, L-1), saved: make([]bn.Saved, L-1)}
	for l := range L {
		in, out := sizes[l], sizes[l+1]
		nt.W[l] = make([]float32, in*out)
		for i := range nt.W[l] {
			nt.W[l][i] = float32(rng.NormFloat64() * initStd)
		}
		nt.DW[l] = make([]float32, in*out)
		if batchNorm && l < L-1 {
			nt.Norms[l] = bn.New(out)
			nt.DGamma[l] = make([]float32, out)
			nt.DBeta[l] = make([]float32, out)
		} else {
			nt.B[l] = make([]float32, out)
			nt.DB[l] = make([]float32, out)
		}
	}
	return nt
}

func (nt *Net) hidden() int  { return len(nt.Sizes) - 2 }
func (nt *Net) classes() int { return nt.Sizes[len(nt.Sizes)-1] }

// Params lists every learnable tensor with its gradient, for SGD and gradient checks.
func (nt *Net) Params() (names []string, params, grads [][]float32) {
	add := func(name string, p, g []float32) {
		if p != nil {
			names, params, grads = append(names, name), append(params, p), append(grads, g)
		}
	}
	for l := range nt.W {
		add(fmt.Sprintf("W%d", l+1), nt.W[l], nt.DW[l])
		add(fmt.Sprintf("b%d", l+1), nt.B[l], nt.DB[l])
		if l < len(nt.Norms) && nt.Norms[l] != nil {
			add(fmt.Sprintf("gamma%d", l+1), nt.Norms[l].Weight, nt.DGamma[l])
			add(fmt.Sprintf("beta%d", l+1), nt.Norms[l].Bias, nt.DBeta[l])
		}
	}
	return names, params, grads
}

// ensure sizes the activation buffers for n rows.
func (nt *Net) ensure(n int) {
	if n <= nt.batch {
		return
	}
	nt.batch = n
	H := nt.hidden()
	nt.z, nt.u, nt.a = make([][]float32, H), make([][]float32, H), make([][]float32, H)
	widest := 0
	for l := range H {
		w := nt.Sizes[l+1]
		widest = max(widest, w)
		nt.z[l], nt.a[l] = make([]float32, n*w), make([]float32, n*w)
		nt.u[l] = nt.z[l]
		if nt.Norms[l] != nil {
			nt.u[l] = make([]float32, n*w)
		}
	}
	widest = max(widest, nt.classes())
	nt.logit = make([]float32, n*nt.classes())
	nt.dA = [2][]float32{make([]float32, n*widest), make([]float32, n*widest)}
	nt.dU, nt.dZ = make([]float32, n*widest), make([]float32, n*widest)
}

// matrix views a row-major slice as a blas32 matrix.
func matrix(rows, cols int, data []float32) blas32.General {
	return blas32.General{Rows: rows, Cols: cols, Stride: cols, Data: data[:rows*cols]}
}

// affine sets out = x·W + b for the n rows of x (b may be nil).
func (nt *Net) affine(out, x []float32, n, l int) {
	in, w := nt.Sizes[l], nt.Sizes[l+1]
	blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, matrix(n, in, x), matrix(in, w, nt.W[l]), 0, matrix(n, w, out))
	if b := nt.B[l]; b != nil {
		for r := range n {
			row := out[r*w : (r+1)*w]
			for j := range row {
				row[j] += b[j]
			}
		}
	}
}

func sigmoid(a, u []float32) {
	for i, v := range u {
		a[i] = float32(1 / (1 + math.Exp(-float64(v))))
	}
}

// Forward runs the n rows of x through the network in training mode (batch statistics,
// running statistics updated) and leaves softmax probabilities for Backward.
func (nt *Net) Forward(x []float32, n int) error {
	nt.ensure(n)
	in := x
	for l := range nt.hidden() {
		w := nt.Sizes[l+1]
		z, u, a := nt.z[l][:n*w], nt.u[l][:n*w], nt.a[l][:n*w]
		nt.affine(z, in, n, l)
		if norm := nt.Norms[l]; norm != nil {
			if err := norm.Forward(u, z, bn.Shape{N: n, C: w, S: 1}, &nt.saved[l]); err != nil {
				return err
			}
		}
		sigmoid(a, u)
		in = a
	}
	k := nt.classes()
	logit := nt.logit[:n*k]
	nt.affine(logit, in, n, len(nt.W)-1)
	softmax(logit, n, k)
	return nil
}

// softmax turns each row of k logits into probabilities in place, subtracting the row's
// maximum first so large logits cannot overflow.
func softmax(p []float32, n, k int) {
	for r := range n {
		row := p[r*k : (r+1)*k]
		m := row[0]
		for _, v := range row {
			m = max(m, v)
		}
		var sum float64
		for j, v := range row {
			e := math.Exp(float64(v - m))
			row[j] = float32(e)
			sum += e
		}
		for j := range row {
			row[j] = float32(float64(row[j]) / sum)
		}
	}
}

// Loss is the mean cross-entropy of the probabilities Forward left, in float64.
func (nt *Net) Loss(labels []uint8) float64 {
	var sum float64
	k := nt.classes()
	for r, y := range labels {
		p := float64(nt.logit[r*k+int(y)])
		sum -= math.Log(max(p, 1e-30))
	}
	return sum / float64(len(labels))
}

// Backward fills DW, DB, DGamma and DBeta with the gradient of the mean cross-entropy
// over the batch Forward just saw. x is that batch's input.
func (nt *Net) Backward(x []float32, labels []uint8) error {
	n := len(labels)
	L := len(nt.W)
	// Softmax and cross-entropy together: dLoss/dlogit = (p - onehot)/n.
	k := nt.classes()
	dOut := nt.dZ[:n*k]
	copy(dOut, nt.logit[:n*k])
	for r, y := range labels {
		dOut[r*k+int(y)]--
	}
	for i := range dOut {
		dOut[i] /= float32(n)
	}
	dz := dOut
	for l := L - 1; l >= 0; l-- {
		in, w := nt.Sizes[l], nt.Sizes[l+1]
		xin := x
		if l > 0 {
			xin = nt.a[l-1][:n*in]
		}
		// dW = xinᵀ·dz, db = Σ rows of dz.
		blas32.Gemm(blas.Trans, blas.NoTrans, 1, matrix(n, in, xin), matrix(n, w, dz), 0, matrix(in, w, nt.DW[l]))
		if db := nt.DB[l]; db != nil {
			clear(db)
			for r := range n {
				for j, v := range dz[r*w : (r+1)*w] {
					db[j] += v
				}
			}
		}
		if l == 0 {
			break // nobody needs the gradient of the pixels
		}
		// Into the hidden layer below: da = dz·Wᵀ, du = da·σ'(u) = da·a(1-a), and dz
		// through the normalization.
		da := nt.dA[l%2][:n*in]
		blas32.Gemm(blas.NoTrans, blas.Trans, 1, matrix(n, w, dz), matrix(in, w, nt.W[l]), 0, matrix(n, in, da))
		a := nt.a[l-1][:n*in]
		du := nt.dU[:n*in]
		for i, g := range da {
			du[i] = g * a[i] * (1 - a[i])
		}
		dz = du
		if norm := nt.Norms[l-1]; norm != nil {
			dz = nt.dZ[:n*in]
			err := norm.Backward(dz, nt.DGamma[l-1], nt.DBeta[l-1], du, nt.z[l-1][:n*in],
				bn.Shape{N: n, C: in, S: 1}, &nt.saved[l-1])
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// SGD takes one plain gradient step on every parameter.
func (nt *Net) SGD(lr float32) {
	_, params, grads := nt.Params()
	for i, p := range params {
		for j, g := range grads[i] {
			p[j] -= lr * g
		}
	}
}

// Infer runs n rows of x in evaluation mode (BN with running statistics), writes the
// predicted digit of each row into pred, and, when probe is not nil, the sigmoid input of
// unit probeUnit of the last hidden layer for each row.
func (nt *Net) Infer(pred []uint8, probe []float32, probeUnit int, x []float32, n int) error {
	return nt.infer(pred, probe, probeUnit, x, n, false)
}

// InferBatchStats is Infer with every BN layer normalizing by the statistics of these n
// rows instead of its running statistics, which it leaves untouched: it tells whether a
// gap between training and test accuracy comes from running statistics that do not
// match the batches the network was trained on.
func (nt *Net) InferBatchStats(pred []uint8, x []float32, n int) error {
	return nt.infer(pred, nil, 0, x, n, true)
}

func (nt *Net) infer(pred []uint8, probe []float32, probeUnit int, x []float32, n int, batchStats bool) error {
	nt.ensure(n)
	in := x
	for l := range nt.hidden() {
		w := nt.Sizes[l+1]
		z, u, a := nt.z[l][:n*w], nt.u[l][:n*w], nt.a[l][:n*w]
		nt.affine(z, in, n, l)
		if norm := nt.Norms[l]; norm != nil {
			if batchStats {
				// A BatchNorm without running statistics normalizes with the batch's own.
				own := *norm
				own.RunningMean, own.RunningVar = nil, nil
				norm = &own
			}
			if err := norm.Infer(u, z, bn.Shape{N: n, C: w, S: 1}); err != nil {
				return err
			}
		}
		if probe != nil && l == nt.hidden()-1 {
			for r := range n {
				probe[r] = u[r*w+probeUnit]
			}
		}
		sigmoid(a, u)
		in = a
	}
	k := nt.classes()
	logit := nt.logit[:n*k]
	nt.affine(logit, in, n, len(nt.W)-1)
	for r := range n {
		best := 0
		for j := 1; j < k; j++ {
			if logit[r*k+j] > logit[r*k+best] {
				best = j
			}
		}
		pred[r] = uint8(best)
	}
	return nil
}

// FirstLayerGradNorm is the Frobenius norm of the first weight matrix's gradient, the
// quantity that vanishes when a deep sigmoid network stops learning.
func (nt *Net) FirstLayerGradNorm() float64 {
	var s float64
	for _, g := range nt.DW[0] {
		s += float64(g) * float64(g)
	}
	return math.Sqrt(s)
}
