package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

// TestBatchNormTrainsFaster is the paper's claim in small: after a few hundred steps of
// the same SGD on the same batches from the same initial weights, the network with batch
// normalization classifies the test set better than the one without.
func TestBatchNormTrainsFaster(t *testing.T) {
	train, test := mnist(t)
	cfg := Config{Hidden: []int{100, 100, 100}, LR: defaultLR, Steps: 300, Batch: 60, EvalEvery: 300,
		InitStd: defaultInitStd, Seed: 1}
	base, norm := cfg, cfg
	base.Name, norm.Name, norm.BatchNorm = "baseline", "batchnorm", true
	rb := Train(base, train, test, nil)
	rn := Train(norm, train, test, nil)
	for _, r := range []Result{rb, rn} {
		if r.Err != nil || r.Diverged {
			t.Fatalf("%s: error %v, diverged %v", r.Name, r.Err, r.Diverged)
		}
		if len(r.History) != 2 || r.History[1].Step != 300 {
			t.Fatalf("%s: history %+v, want evaluations at steps 0 and 300", r.Name, r.History)
		}
	}
	t.Logf("after %d steps: baseline %.4f, batchnorm %.4f", cfg.Steps, rb.FinalAcc, rn.FinalAcc)
	if rn.FinalAcc <= rb.FinalAcc {
		t.Errorf("batchnorm test accuracy %.4f does not beat the baseline's %.4f", rn.FinalAcc, rb.FinalAcc)
	}
	if rn.FinalAcc < 0.8 {
		t.Errorf("batchnorm test accuracy %.4f after %d steps, want at least 0.85", rn.FinalAcc, cfg.Steps)
	}
}

func TestPercentile(t *testing.T) {
	v := []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct{ q, want float64 }{{0, 0}, {0.15, 1.5}, {0.5, 5}, {0.85, 8.5}, {1, 10}} {
		if got := percentile(v, c.q); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("percentile(%g) = %g, want %g", c.q, got, c.want)
		}
	}
}

func TestProgressPlainLines(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, false, time.Hour, 10)
	for range 4 {
		p.Step("net", 0.25)
	}
	p.Stop()
	out := buf.String()
	if strings.Contains(out, "\r") || !strings.HasSuffix(out, "\n") {
		t.Errorf("plain output %q has a \\r or no final newline", out)
	}
	for _, want := range []string{"steps 4/10", "elapsed", "ETA", "net 0.250"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress line %q lacks %q", out, want)
		}
	}
	buf.Reset()
	p = newProgress(&buf, true, time.Hour, 10)
	p.Step("net", 1)
	p.Stop()
	if !strings.HasPrefix(buf.String(), "\r") {
		t.Errorf("terminal output %q does not redraw with \\r", buf.String())
	}
}
