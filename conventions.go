package bn

// Frameworks state the same batch normalization with different conventions. The
// constructors below translate them into BatchNorm's fields, which follow PyTorch:
//
//	                   PyTorch                    ONNX BatchNormalization       Keras BatchNormalization
//	momentum           weight of the batch, 0.1   weight of the running, 0.9    weight of the running, 0.99
//	eps                1e-5                       epsilon, 1e-5                 epsilon, 1e-3
//	running variance   unbiased (M2/(n-1))        biased (M2/n)                 biased (M2/n)
//	default layout     channels-first (NCHW)      channels-first (NCHW)         channels-last (NHWC)
//
// Normalization itself, (x - mean)/sqrt(var + eps)·γ + β with the biased batch variance,
// is the same in all three.

// NewONNX returns a BatchNorm that behaves as ONNX's BatchNormalization operator with the
// given epsilon and momentum attributes (ONNX's defaults are 1e-5 and 0.9): running =
// momentum·running + (1 - momentum)·batch, with the biased batch variance.
func NewONNX(channels int, epsilon, momentum float64) *BatchNorm {
	bn := New(channels)
	bn.Eps = epsilon
	bn.Momentum = 1 - momentum
	bn.BiasedRunningVar = true
	return bn
}

// NewKeras returns a BatchNorm that behaves as Keras's BatchNormalization layer with the
// given epsilon and momentum (Keras's defaults are 1e-3 and 0.99): moving =
// momentum·moving + (1 - momentum)·batch, with the biased batch variance. Keras tensors
// are channels-last: pass Shape{Layout: ChannelsLast}.
func NewKeras(channels int, epsilon, momentum float64) *BatchNorm {
	return NewONNX(channels, epsilon, momentum)
}
