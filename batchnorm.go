package bn

import "fmt"

// BatchNorm is a batch normalization layer with PyTorch's semantics (torch.nn.BatchNorm1d,
// 2d and 3d): in training, y = (x - mean)/sqrt(var + Eps)·Weight + Bias over each
// channel's batch statistics; in inference, the same with the running statistics.
//
// Its fields may be set directly; New gives PyTorch's defaults, and NewONNX and NewKeras
// those frameworks' conventions. A BatchNorm is not safe for concurrent Forward calls
// (they update the running statistics), but Infer may run from many goroutines at once.
type BatchNorm struct {
	// Eps is added to the variance for numerical stability (PyTorch's eps, 1e-5).
	Eps float64
	// Momentum weighs the batch in the running statistics:
	// running = (1 - Momentum)·running + Momentum·batch (PyTorch's momentum, 0.1).
	Momentum float64
	// CumulativeAverage makes the running statistics the plain average over all batches
	// seen, as PyTorch does with momentum=None: the factor is 1/NumBatchesTracked after
	// its increment, and Momentum is ignored.
	CumulativeAverage bool
	// BiasedRunningVar makes the running variance track the biased batch variance (the
	// one normalization uses), as ONNX and Keras do. PyTorch tracks the unbiased one.
	BiasedRunningVar bool

	// Weight and Bias are the learnable γ and β, one per channel. nil means 1 and 0
	// (PyTorch's affine=False).
	Weight, Bias []float32

	// RunningMean and RunningVar are the running statistics, one per channel, updated by
	// Forward and used by Infer. nil for both means none are kept (PyTorch's
	// track_running_stats=False): Infer then normalizes with the batch's own statistics.
	RunningMean, RunningVar []float32
	// NumBatchesTracked counts the Forward calls that updated the running statistics.
	NumBatchesTracked int64
}

// New returns a BatchNorm over the given number of channels with PyTorch's defaults: Eps
// 1e-5, Momentum 0.1, Weight 1, Bias 0, RunningMean 0 and RunningVar 1.
func New(channels int) *BatchNorm {
	channels = max(channels, 0)
	bn := &BatchNorm{
		Eps:         1e-5,
		Momentum:    0.1,
		Weight:      make([]float32, channels),
		Bias:        make([]float32, channels),
		RunningMean: make([]float32, channels),
		RunningVar:  make([]float32, channels),
	}
	for c := range channels {
		bn.Weight[c] = 1
		bn.RunningVar[c] = 1
	}
	return bn
}

// Saved carries what Forward learns about a batch to Backward: each channel's batch mean
// and 1/sqrt(var + Eps). Forward allocates a slice only when it is nil, so a Saved reused
// from step to step costs nothing.
type Saved struct {
	Mean, InvStd []float32

	// meanResidual is mean - float64(Mean[c]) rounded to float32: the part of the batch
	// mean float32 cannot hold, which Backward folds back in. Without it (a Saved built by
	// hand) Backward takes Mean as exact.
	meanResidual []float32
}

// prepare sizes the saved slices for c channels, allocating only those that are nil.
func (sv *Saved) prepare(c int) {
	if sv.Mean == nil {
		sv.Mean = make([]float32, c)
	}
	if sv.InvStd == nil {
		sv.InvStd = make([]float32, c)
	}
	if len(sv.meanResidual) != c {
		sv.meanResidual = make([]float32, c)
	}
}

// fill saves the batch statistics of the tile starting at channel c0, their centers the
// means rounded to float32 (as kernelSet.fold rounds them).
func (sv *Saved) fill(k *kernelSet, c0 int, mean, invStds []float64) {
	n := len(invStds)
	k.save(sv.Mean[c0:c0+n], sv.meanResidual[c0:c0+n], sv.InvStd[c0:c0+n], mean, invStds)
}

// weights is γ for channels [c0, c1): Weight's, or ones when it is nil.
func (bn *BatchNorm) weights(c0, c1 int) []float32 {
	if bn.Weight == nil {
		return ones[:c1-c0]
	}
	return bn.Weight[c0:c1]
}

// biases is β for channels [c0, c1): Bias's, or zeros when it is nil.
func (bn *BatchNorm) biases(c0, c1 int) []float32 {
	if bn.Bias == nil {
		return zeros[:c1-c0]
	}
	return bn.Bias[c0:c1]
}

// checkTraining validates a training-mode call: more than one value per channel, as
// PyTorch requires, since a single value has no variance.
func checkTraining(s Shape) error {
	if s.N*s.S < 2 {
		return fmt.Errorf("%w: training needs more than one value per channel, got N·S = %d for %v",
			ErrShape, s.N*s.S, s)
	}
	return nil
}

// Forward normalizes x into y with the batch's statistics (training mode), updates the
// running statistics from the same pass, and fills saved for Backward when saved is not
// nil. y may be x itself.
func (bn *BatchNorm) Forward(y, x []float32, s Shape, saved *Saved) error {
	if err := bn.checkForward(y, x, s, saved); err != nil {
		return err
	}
	if saved != nil {
		saved.prepare(s.C)
	}
	tracking := bn.RunningMean != nil
	factor := bn.Momentum
	if bn.CumulativeAverage {
		factor = 1 / float64(bn.NumBatchesTracked+1)
	}
	k := activeKernels()
	p := newPlan(s, blockingBudget(4*s.Len()))
	sc := getScratch()
	defer putScratch(sc)
	for c0 := 0; c0 < s.C; c0 += p.tile {
		c1 := min(c0+p.tile, s.C)
		st := sc.stats(c1 - c0)
		p.moments(k, st, x, c0, c1)
		invStds := sc.invStd[:c1-c0]
		k.invStd(invStds, st.m2, st.inv, bn.Eps)
		if tracking {
			bn.track(k, st, factor, c0, c1)
		}
		weights, biases := bn.weights(c0, c1), bn.biases(c0, c1)
		if saved != nil {
			saved.fill(k, c0, st.mean, invStds)
		}
		n := c1 - c0
		center := sc.fold(k, st.mean, st.m2, invStds, weights, biases)
		p.normalize(k, y, x, center, sc.scale[:n], sc.shift[:n], c0, c1)
	}
	if tracking {
		bn.NumBatchesTracked++
	}
	return nil
}

// track updates the running statistics of channels [c0, c1) with the tile's batch
// statistics st, by the given factor: the unbiased variance, M2/(count-1), as PyTorch
// tracks it, unless BiasedRunningVar.
func (bn *BatchNorm) track(k *kernelSet, st *stats, factor float64, c0, c1 int) {
	inv := st.invUnbiased
	if bn.BiasedRunningVar {
		inv = st.inv
	}
	k.track(bn.RunningMean[c0:c1], bn.RunningVar[c0:c1], st.mean, st.m2, factor, inv)
}

func (bn *BatchNorm) checkForward(y, x []float32, s Shape, saved *Saved) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if err := checkTraining(s); err != nil {
		return err
	}
	if err := checkLen("x", x, s.Len(), s); err != nil {
		return err
	}
	if err := checkLen("y", y, s.Len(), s); err != nil {
		return err
	}
	if err := bn.checkParams(s); err != nil {
		return err
	}
	var savedMean, savedInvStd []float32
	if saved != nil {
		if err := checkOptional(s, input("saved.Mean", saved.Mean), input("saved.InvStd", saved.InvStd)); err != nil {
			return err
		}
		savedMean, savedInvStd = saved.Mean, saved.InvStd
	}
	return checkAliasing(tensorOutput("y", y), tensorInput("x", x),
		input("Weight", bn.Weight), input("Bias", bn.Bias),
		output("RunningMean", bn.RunningMean), output("RunningVar", bn.RunningVar),
		output("saved.Mean", savedMean), output("saved.InvStd", savedInvStd))
}

// Infer normalizes x into y with the running statistics (evaluation mode), folded into
// one scale and shift per channel. With no running statistics kept it uses the batch's
// own, as PyTorch does. It changes nothing in bn and is safe for concurrent use by many
// goroutines. y may be x itself.
func (bn *BatchNorm) Infer(y, x []float32, s Shape) error {
	if err := s.Validate(); err != nil {
		return err
	}
	tracking := bn.RunningMean != nil
	if !tracking {
		if err := checkTraining(s); err != nil {
			return err
		}
	}
	if err := checkLen("x", x, s.Len(), s); err != nil {
		return err
	}
	if err := checkLen("y", y, s.Len(), s); err != nil {
		return err
	}
	if err := bn.checkParams(s); err != nil {
		return err
	}
	err := checkAliasing(tensorOutput("y", y), tensorInput("x", x),
		input("Weight", bn.Weight), input("Bias", bn.Bias),
		input("RunningMean", bn.RunningMean), input("RunningVar", bn.RunningVar))
	if err != nil {
		return err
	}
	k := activeKernels()
	budget := 0
	if !tracking {
		budget = blockingBudget(4 * s.Len())
	}
	p := newPlan(s, budget)
	sc := getScratch()
	defer putScratch(sc)
	for c0 := 0; c0 < s.C; c0 += p.tile {
		c1 := min(c0+p.tile, s.C)
		n := c1 - c0
		var center []float32
		if tracking {
			center = bn.foldRunning(k, sc, c0, c1)
		} else {
			st := sc.stats(n)
			p.moments(k, st, x, c0, c1)
			invStds := sc.invStd[:n]
			k.invStd(invStds, st.m2, st.inv, bn.Eps)
			center = sc.fold(k, st.mean, st.m2, invStds, bn.weights(c0, c1), bn.biases(c0, c1))
		}
		p.normalize(k, y, x, center, sc.scale[:n], sc.shift[:n], c0, c1)
	}
	return nil
}

// foldRunning folds the running statistics of channels [c0, c1) with Eps, γ and β into
// sc's scale and shift and returns the center to normalize with (see scratch.fold).
func (bn *BatchNorm) foldRunning(k *kernelSet, sc *scratch, c0, c1 int) []float32 {
	n := c1 - c0
	mean, invStds := sc.mean[:n], sc.invStd[:n]
	k.widen(invStds, bn.RunningVar[c0:c1])
	k.widen(mean, bn.RunningMean[c0:c1])
	k.invStd(invStds, invStds, 1, bn.Eps)
	return sc.fold(k, mean, nil, invStds, bn.weights(c0, c1), bn.biases(c0, c1))
}

// Backward computes the gradients of a training-mode Forward: dx from dy, and, when not
// nil, dWeight = Σdy·x̂ and dBias = Σdy per channel (overwritten, not accumulated). x and
// saved are Forward's input and saved statistics. dx may be dy or x itself.
//
// It makes two passes over the data for each tile of channels: one fused reduction of
// Σdy and Σdy·(x - mean), then one elementwise pass.
func (bn *BatchNorm) Backward(dx, dWeight, dBias, dy, x []float32, s Shape, saved *Saved) error {
	if err := bn.checkBackward(dx, dWeight, dBias, dy, x, s, saved); err != nil {
		return err
	}
	residual := saved.meanResidual
	if len(residual) != s.C {
		residual = nil
	}
	invM := 1 / float64(s.N*s.S)
	k := activeKernels()
	// Unlike Forward, Backward does not block its channels for the cache. A tile of x and
	// dy that fits half the L2 is a few KB of each sample, too short a stream to read at
	// the rate whole samples go, and the second pass's hits did not repay that: blocked,
	// Backward took 1.25–1.5 times as long on NCHW 256×512×7×7 and 512×256×4×4. Blocking
	// won only on NCHW 64×256×14×14 with AVX-512, by a tenth.
	p := newPlan(s, 0)
	sc := getScratch()
	defer putScratch(sc)
	for c0 := 0; c0 < s.C; c0 += p.tile {
		c1 := min(c0+p.tile, s.C)
		n := c1 - c0
		center := saved.Mean[c0:c1]
		sumDy, sumDyXc := sc.sum1[:n], sc.sum2[:n]
		p.reduce(k, sumDy, sumDyXc, dy, x, center, c0, c1)
		invStds, weights := saved.InvStd[c0:c1], bn.weights(c0, c1)
		los := zeros[:n] // the true mean is center + lo
		if residual != nil {
			los = residual[c0:c1]
		}
		var dw, db []float32 // empty when not asked for
		if dWeight != nil {
			dw = dWeight[c0:c1]
		}
		if dBias != nil {
			db = dBias[c0:c1]
		}
		k.gradCoefficients(sc.gy[:n], sc.gx[:n], sc.g0[:n], dw, db, sumDy, sumDyXc, invStds, weights, los, invM)
		p.grad(k, dx, dy, x, center, sc.gy[:n], sc.gx[:n], sc.g0[:n], c0, c1)
	}
	return nil
}

func (bn *BatchNorm) checkBackward(dx, dWeight, dBias, dy, x []float32, s Shape, saved *Saved) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if err := checkTraining(s); err != nil {
		return err
	}
	for _, t := range []operand{tensorOutput("dx", dx), tensorInput("dy", dy), tensorInput("x", x)} {
		if err := checkLen(t.name, t.s, s.Len(), s); err != nil {
			return err
		}
	}
	if err := checkOptional(s, output("dWeight", dWeight), output("dBias", dBias)); err != nil {
		return err
	}
	if err := bn.checkParams(s); err != nil {
		return err
	}
	if saved == nil {
		return fmt.Errorf("%w: Backward needs the Saved filled by Forward, got nil", ErrParam)
	}
	if len(saved.Mean) != s.C || len(saved.InvStd) != s.C {
		return fmt.Errorf("%w: len(saved.Mean) = %d and len(saved.InvStd) = %d, want %d (C); was saved filled by Forward with this shape?",
			ErrParam, len(saved.Mean), len(saved.InvStd), s.C)
	}
	return checkAliasing(tensorOutput("dx", dx), tensorInput("dy", dy), tensorInput("x", x),
		output("dWeight", dWeight), output("dBias", dBias),
		input("saved.Mean", saved.Mean), input("saved.InvStd", saved.InvStd), input("Weight", bn.Weight))
}
