package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Config is one training run.
type Config struct {
	Name      string
	Hidden    []int   // hidden layer widths
	BatchNorm bool    // insert bn.BatchNorm before every sigmoid
	LR        float64 // plain SGD learning rate
	Steps     int
	Batch     int
	EvalEvery int     // steps between test-set evaluations
	InitStd   float64 // standard deviation of the Gaussian initial weights
	Seed      uint64  // initial weights and mini-batch order; equal seeds give equal batches
	ProbeUnit int     // which sigmoid of the last hidden layer to watch
	// BatchStatsAcc also measures BN networks' test accuracy with batch statistics.
	BatchStatsAcc bool
}

// Point is what a run records at one evaluation.
type Point struct {
	Step          int
	TestAcc       float64
	TrainLoss     float64 // mean mini-batch loss since the previous point
	P15, P50, P85 float64 // percentiles of the probed sigmoid's input over the test set
	GradNorm      float64 // mean first-layer gradient norm since the previous point
	// TestAccBatch is the test accuracy with BN normalizing each chunk of evalChunk test
	// images by its own statistics (NaN unless Config.BatchStatsAcc and BN).
	TestAccBatch float64
}

// Result is a finished run.
type Result struct {
	Config
	History    []Point
	FinalAcc   float64
	StepsTo95  int  // first evaluated step with test accuracy ≥ 0.95; -1 if never
	Diverged   bool // loss became NaN/Inf (training stops), or its mean over the last evaluation interval exceeds divergeLoss
	DivergedAt int
	Duration   time.Duration
	Err        error
}

// divergeLoss is a mean training loss three times that of guessing uniformly (ln 10):
// at the end of training, the network is confidently wrong.
var divergeLoss = 3 * math.Log(10)

// Train runs cfg on the training set, evaluating on the test set every EvalEvery steps
// and at the end, and reports progress to prog (which may be nil).
func Train(cfg Config, train, test *Dataset, prog *Progress) Result {
	start := time.Now()
	res := Result{Config: cfg, StepsTo95: -1}
	initRNG := rand.New(rand.NewPCG(cfg.Seed, 1))
	orderRNG := rand.New(rand.NewPCG(cfg.Seed, 2))
	net := NewNet(MNISTSizes(cfg.Hidden...), cfg.BatchNorm, cfg.InitStd, initRNG)

	x := make([]float32, cfg.Batch*ImageSize)
	labels := make([]uint8, cfg.Batch)
	order := orderRNG.Perm(train.N)
	next := 0
	var lossSum, gradSum float64
	var since int

	record := func(step int) error {
		p, err := Evaluate(net, test, cfg.ProbeUnit)
		if err != nil {
			return err
		}
		p.TestAccBatch = math.NaN()
		if cfg.BatchStatsAcc && cfg.BatchNorm {
			if p.TestAccBatch, err = EvaluateBatchStats(net, test); err != nil {
				return err
			}
		}
		p.Step = step
		if since > 0 {
			p.TrainLoss, p.GradNorm = lossSum/float64(since), gradSum/float64(since)
		} else {
			p.TrainLoss, p.GradNorm = math.NaN(), math.NaN()
		}
		lossSum, gradSum, since = 0, 0, 0
		res.History = append(res.History, p)
		if res.StepsTo95 < 0 && p.TestAcc >= 0.95 {
			res.StepsTo95 = step
		}
		return nil
	}
	if res.Err = record(0); res.Err != nil {
		return res
	}
	for step := 1; step <= cfg.Steps; step++ {
		// Mini-batches walk a shuffled permutation of the training set, reshuffled at
		// each epoch.
		for i := range cfg.Batch {
			if next == len(order) {
				orderRNG.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
				next = 0
			}
			j := order[next]
			next++
			copy(x[i*ImageSize:(i+1)*ImageSize], train.Image(j))
			labels[i] = train.Labels[j]
		}
		if res.Err = net.Forward(x, cfg.Batch); res.Err != nil {
			return res
		}
		loss := net.Loss(labels)
		if res.Err = net.Backward(x, labels); res.Err != nil {
			return res
		}
		net.SGD(float32(cfg.LR))
		lossSum += loss
		gradSum += net.FirstLayerGradNorm()
		since++
		prog.Step(cfg.Name, loss)

		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			res.Diverged, res.DivergedAt = true, step
		}
		if step%cfg.EvalEvery == 0 || step == cfg.Steps || res.Diverged {
			if res.Err = record(step); res.Err != nil {
				return res
			}
		}
		if res.Diverged {
			prog.Skip(cfg.Steps - step) // a diverged run stops; its remaining steps count as done
			break
		}
	}
	// A loss that blew up but stayed finite is judged at the end only: early in training
	// at high learning rates the loss can spike and recover, as it does with BN.
	if last := res.History[len(res.History)-1]; !res.Diverged && last.TrainLoss > divergeLoss {
		res.Diverged, res.DivergedAt = true, last.Step
	}
	res.FinalAcc = res.History[len(res.History)-1].TestAcc
	res.Duration = time.Since(start)
	return res
}

// evalChunk is how many test images go through the network at once.
const evalChunk = 500

// Evaluate measures test accuracy in evaluation mode and the 15th, 50th and 85th
// percentiles of the input to one sigmoid of the last hidden layer over the test set.
func Evaluate(net *Net, test *Dataset, probeUnit int) (Point, error) {
	pred := make([]uint8, evalChunk)
	probe := make([]float32, test.N)
	correct := 0
	for i := 0; i < test.N; i += evalChunk {
		n := min(evalChunk, test.N-i)
		if err := net.Infer(pred[:n], probe[i:i+n], probeUnit, test.X[i*ImageSize:(i+n)*ImageSize], n); err != nil {
			return Point{}, err
		}
		for r := range n {
			if pred[r] == test.Labels[i+r] {
				correct++
			}
		}
	}
	slices.Sort(probe)
	return Point{
		TestAcc: float64(correct) / float64(test.N),
		P15:     percentile(probe, 0.15), P50: percentile(probe, 0.50), P85: percentile(probe, 0.85),
	}, nil
}

// EvaluateBatchStats is the test accuracy with BN layers using each chunk's statistics.
func EvaluateBatchStats(net *Net, test *Dataset) (float64, error) {
	pred := make([]uint8, evalChunk)
	correct := 0
	for i := 0; i < test.N; i += evalChunk {
		n := min(evalChunk, test.N-i)
		if err := net.InferBatchStats(pred[:n], test.X[i*ImageSize:(i+n)*ImageSize], n); err != nil {
			return 0, err
		}
		for r := range n {
			if pred[r] == test.Labels[i+r] {
				correct++
			}
		}
	}
	return float64(correct) / float64(test.N), nil
}

// percentile interpolates linearly between the closest ranks of sorted values.
func percentile(sorted []float32, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(sorted)-1)
	lo := int(pos)
	hi := min(lo+1, len(sorted)-1)
	f := pos - float64(lo)
	return float64(sorted[lo])*(1-f) + float64(sorted[hi])*f
}
