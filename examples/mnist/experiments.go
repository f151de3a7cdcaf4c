package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Experiment holds what every experiment shares: the data, the paper's settings and where
// results go.
type Experiment struct {
	Train, Test *Dataset
	Base        Config // the paper's network; experiments vary it
	Parallel    int    // runs trained at once
	Out         string // directory for PNG and CSV files
	W           io.Writer
}

// runAll trains every config, Parallel at a time, with one progress display for all.
func (e *Experiment) runAll(cfgs []Config) ([]Result, error) {
	total := 0
	for _, c := range cfgs {
		total += c.Steps
	}
	prog := NewProgress(total)
	results := make([]Result, len(cfgs))
	next := make(chan int, len(cfgs)) // runs start in the order given
	for i := range cfgs {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range min(max(e.Parallel, 1), len(cfgs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = Train(cfgs[i], e.Train, e.Test, prog)
				prog.Finished(cfgs[i].Name)
			}
		}()
	}
	wg.Wait()
	prog.Stop()
	for _, r := range results {
		if r.Err != nil {
			return nil, fmt.Errorf("%s: %w", r.Name, r.Err)
		}
	}
	return results, nil
}

func (e *Experiment) printf(format string, args ...any) { fmt.Fprintf(e.W, format, args...) }

// Figure1 trains the paper's baseline and batch-normalized networks side by side and
// draws Figure 1: (a) test accuracy over training, (b, c) the 15th, 50th and 85th
// percentiles of one last-layer sigmoid's input, without and with BN.
func (e *Experiment) Figure1() (base, norm Result, err error) {
	b, n := e.Base, e.Base
	b.Name, n.Name, n.BatchNorm = "baseline", "batchnorm", true
	e.printf("Figure 1: 784-%s-10 sigmoid network, batch %d, SGD lr %g, %d steps, seed %d\n",
		widths(b.Hidden), b.Batch, b.LR, b.Steps, b.Seed)
	res, err := e.runAll([]Config{b, n})
	if err != nil {
		return Result{}, Result{}, err
	}
	base, norm = res[0], res[1]

	e.printf("\nTest accuracy (10 000 test images; BN uses its running statistics)\n")
	e.printf("%8s  %9s  %9s\n", "step", "baseline", "batchnorm")
	rows := min(len(base.History), len(norm.History)) // shorter only if a run diverged
	for i := range rows {
		e.printf("%8d  %9.4f  %9.4f\n", base.History[i].Step, base.History[i].TestAcc, norm.History[i].TestAcc)
	}
	e.printf("\nInput to sigmoid %d of the last hidden layer over the test set: 15th / 50th / 85th percentiles\n", b.ProbeUnit)
	e.printf("%8s  %26s  %26s\n", "step", "baseline", "batchnorm")
	for _, i := range sample(rows, 11) {
		pb, pn := base.History[i], norm.History[i]
		e.printf("%8d  %8.3f %8.3f %8.3f  %8.3f %8.3f %8.3f\n", pb.Step, pb.P15, pb.P50, pb.P85, pn.P15, pn.P50, pn.P85)
	}
	e.printf("\nTraining time: baseline %v, batchnorm %v\n", base.Duration.Round(1e9), norm.Duration.Round(1e9))

	acc := Figure{Title: "Test accuracy (Figure 1a)", XLabel: "training step", YLabel: "test accuracy",
		YMin: 0.8, YMax: 1, Series: []Series{
			{Name: "without BN", X: steps(base), Y: field(base, func(p Point) float64 { return p.TestAcc }), Dashed: true},
			{Name: "with BN", X: steps(norm), Y: field(norm, func(p Point) float64 { return p.TestAcc }), Color: 1},
		}}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range []Result{base, norm} {
		for _, p := range r.History {
			if !math.IsNaN(p.P15) && !math.IsNaN(p.P85) {
				lo, hi = min(lo, p.P15), max(hi, p.P85)
			}
		}
	}
	pad := 0.05 * (hi - lo)
	percentiles := func(r Result, title string) Figure {
		// Extra room at the top keeps the legend off the 85th percentile.
		return Figure{Title: title, XLabel: "training step", YLabel: "sigmoid input", YMin: lo - pad, YMax: hi + 6*pad,
			LegendTop: true, Series: []Series{
				{Name: "85th percentile", X: steps(r), Y: field(r, func(p Point) float64 { return p.P85 }), Color: 2},
				{Name: "50th percentile", X: steps(r), Y: field(r, func(p Point) float64 { return p.P50 })},
				{Name: "15th percentile", X: steps(r), Y: field(r, func(p Point) float64 { return p.P15 }), Color: 1},
			}}
	}
	err = e.save(map[string]Figure{
		"fig1a_test_accuracy.png":           acc,
		"fig1b_sigmoid_input_baseline.png":  percentiles(base, "Sigmoid input without BN (Figure 1b)"),
		"fig1c_sigmoid_input_batchnorm.png": percentiles(norm, "Sigmoid input with BN (Figure 1c)"),
	}, "figure1.csv", res)
	return base, norm, err
}

// LRSweep trains both networks at multiples of the base learning rate: the paper's
// claim is that BN tolerates much higher rates.
func (e *Experiment) LRSweep() (Result, Result, error) {
	mults := []float64{1, 5, 10, 30}
	var cfgs []Config
	for _, m := range mults {
		for _, norm := range []bool{false, true} {
			c := e.Base
			c.BatchNorm, c.LR = norm, e.Base.LR*m
			c.Name = fmt.Sprintf("%s lr×%g", netName(norm), m)
			cfgs = append(cfgs, c)
		}
	}
	e.printf("Learning-rate sweep: 784-%s-10, batch %d, base lr %g × %v, %d steps each (the paper trains 50 000), seed %d\n",
		widths(e.Base.Hidden), e.Base.Batch, e.Base.LR, mults, e.Base.Steps, e.Base.Seed)
	res, err := e.runAll(cfgs)
	if err != nil {
		return Result{}, Result{}, err
	}
	e.printf("\n%6s  %8s  %-9s  %9s  %10s  %13s  %s\n", "lr×", "lr", "network", "final acc", "final loss",
		"steps to 95%", "diverged")
	var series []Series
	for i, r := range res {
		e.printf("%6g  %8g  %-9s  %9.4f  %10.4f  %13s  %s\n", mults[i/2], r.LR, netName(r.BatchNorm), r.FinalAcc,
			r.History[len(r.History)-1].TrainLoss, stepsTo(r.StepsTo95), diverged(r))
		series = append(series, Series{Name: r.Name, X: steps(r), Y: field(r, func(p Point) float64 { return p.TestAcc }),
			Color: i / 2, Dashed: !r.BatchNorm})
	}
	e.printf("(final loss: mean training loss over the last %d steps; ln 10 = 2.30 is chance level.\n"+
		" diverged: the loss became NaN/Inf (training stops there) or its final mean exceeds %.1f)\n", e.Base.EvalEvery, divergeLoss)
	err = e.save(map[string]Figure{"lr_sweep_test_accuracy.png": {
		Title: "Test accuracy by learning rate (dashed: without BN)", XLabel: "training step",
		YLabel: "test accuracy", YMin: 0, YMax: 1, Series: series}}, "lr_sweep.csv", res)
	return res[0], res[1], err
}

// DepthSweep trains sigmoid networks of growing depth with and without BN and follows
// the first layer's gradient norm, which vanishes in deep sigmoid networks without BN.
func (e *Experiment) DepthSweep() (Result, Result, error) {
	depths := []int{3, 10, 20, 50}
	var cfgs []Config
	for _, d := range depths {
		for _, norm := range []bool{false, true} {
			c := e.Base
			c.Hidden = slices.Repeat([]int{e.Base.Hidden[0]}, d)
			c.BatchNorm, c.BatchStatsAcc = norm, true
			c.Name = fmt.Sprintf("%s depth %d", netName(norm), d)
			cfgs = append(cfgs, c)
		}
	}
	e.printf("Depth sweep: %v hidden sigmoid layers of %d units, batch %d, lr %g, %d steps each (the paper trains 50 000), seed %d\n",
		depths, e.Base.Hidden[0], e.Base.Batch, e.Base.LR, e.Base.Steps, e.Base.Seed)
	// Deepest first, so the longest runs do not start last.
	order := slices.Clone(cfgs)
	slices.Reverse(order)
	res, err := e.runAll(order)
	if err != nil {
		return Result{}, Result{}, err
	}
	slices.Reverse(res)
	e.printf("\n%6s  %-9s  %9s  %11s  %10s  %13s  %12s  %12s  %s\n", "depth", "network", "final acc", "(batch st.)",
		"final loss", "steps to 95%", "|dW1| first", "|dW1| last", "diverged")
	e.printf("(final acc: BN with running statistics, as everywhere; batch st.: BN normalizing each chunk of %d\n"+
		" test images by its own statistics; final loss: mean training loss over the last %d steps)\n", evalChunk, e.Base.EvalEvery)
	e.printf("(|dW1|: mean Frobenius norm of the first layer's gradient over the first and last %d steps;\n"+
		" 0 means it underflowed float32, and such points are left out of the log-scale plot)\n", e.Base.EvalEvery)
	var accSeries, gradSeries []Series
	for i, r := range res {
		h := r.History
		batchAcc := "-"
		if last := h[len(h)-1]; !math.IsNaN(last.TestAccBatch) {
			batchAcc = fmt.Sprintf("%.4f", last.TestAccBatch)
		}
		e.printf("%6d  %-9s  %9.4f  %11s  %10.4f  %13s  %12.3e  %12.3e  %s\n", depths[i/2], netName(r.BatchNorm), r.FinalAcc,
			batchAcc, h[len(h)-1].TrainLoss, stepsTo(r.StepsTo95), h[min(1, len(h)-1)].GradNorm, h[len(h)-1].GradNorm, diverged(r))
		s := Series{Name: r.Name, X: steps(r), Color: i / 2, Dashed: !r.BatchNorm}
		s.Y = field(r, func(p Point) float64 { return p.TestAcc })
		accSeries = append(accSeries, s)
		s.Y = field(r, func(p Point) float64 { return p.GradNorm })
		gradSeries = append(gradSeries, s)
	}
	err = e.save(map[string]Figure{
		"depth_sweep_test_accuracy.png": {Title: "Test accuracy by depth (dashed: without BN)", XLabel: "training step",
			YLabel: "test accuracy", YMin: 0, YMax: 1, Series: accSeries},
		// No Y label: with a log axis gonum/plot leaves a band of empty space under the
		// title as tall as the rotated label is long; the title says what is plotted.
		"depth_sweep_grad_norm.png": {Title: "Norm of dLoss/dW1 by depth (dashed: without BN)",
			XLabel: "training step", LogY: true,
			Series: gradSeries},
	}, "depth_sweep.csv", res)
	return res[0], res[1], err
}

// save writes the figures and every run's history as CSV into the output directory.
func (e *Experiment) save(figs map[string]Figure, csvName string, res []Result) error {
	if err := os.MkdirAll(e.Out, 0o755); err != nil {
		return err
	}
	names := make([]string, 0, len(figs))
	for name := range figs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := figs[name].Save(filepath.Join(e.Out, name)); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	f, err := os.Create(filepath.Join(e.Out, csvName))
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write([]string{"run", "batchnorm", "lr", "hidden_layers", "step", "test_acc", "train_loss",
		"p15", "p50", "p85", "grad_norm_w1", "test_acc_batch_stats"})
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	for _, r := range res {
		for _, p := range r.History {
			w.Write([]string{r.Name, strconv.FormatBool(r.BatchNorm), g(r.LR), strconv.Itoa(len(r.Hidden)),
				strconv.Itoa(p.Step), g(p.TestAcc), g(p.TrainLoss), g(p.P15), g(p.P50), g(p.P85), g(p.GradNorm), g(p.TestAccBatch)})
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	e.printf("\nwrote %s and %s in %s\n", joinNames(names), csvName, relative(e.Out))
	return nil
}

// relative shortens dir to a path from the working directory when it lies below it.
func relative(dir string) string {
	wd, err := os.Getwd()
	if err != nil {
		return dir
	}
	if rel, err := filepath.Rel(wd, dir); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return dir
}

func joinNames(names []string) string {
	s := ""
	for i, n := range names {
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}

func netName(batchNorm bool) string {
	if batchNorm {
		return "batchnorm"
	}
	return "baseline"
}

func widths(hidden []int) string {
	s := ""
	for i, h := range hidden {
		if i > 0 {
			s += "-"
		}
		s += strconv.Itoa(h)
	}
	return s
}

func steps(r Result) []float64 { return field(r, func(p Point) float64 { return float64(p.Step) }) }

func field(r Result, f func(Point) float64) []float64 {
	out := make([]float64, len(r.History))
	for i, p := range r.History {
		out[i] = f(p)
	}
	return out
}

func stepsTo(s int) string {
	if s < 0 {
		return "never"
	}
	return strconv.Itoa(s)
}

func diverged(r Result) string {
	if r.Diverged {
		return fmt.Sprintf("yes (step %d)", r.DivergedAt)
	}
	return "no"
}

// sample picks about k indices spread evenly over [0, n), always including the last.
func sample(n, k int) []int {
	if n <= k {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	var out []int
	for i := range k {
		out = append(out, i*(n-1)/(k-1))
	}
	return out
}
