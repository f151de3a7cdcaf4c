package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// Progress shows how far a set of training runs has come: steps done, elapsed time, an
// ETA and each active run's latest loss. On a terminal it redraws one line with \r; when
// the output is a file or a pipe it prints a plain line every interval instead, so logs
// stay readable. A nil *Progress ignores every call.
type Progress struct {
	w        io.Writer
	tty      bool
	interval time.Duration
	total    int
	start    time.Time

	mu     sync.Mutex
	done   int
	losses map[string]float64
	width  int // length of the last \r line, to blank it out
	stop   chan struct{}
	wg     sync.WaitGroup
}

// isTerminal reports whether f is a character device, as a terminal is.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// NewProgress starts showing progress towards total steps on stdout.
func NewProgress(total int) *Progress {
	tty := isTerminal(os.Stdout)
	interval := 10 * time.Second
	if tty {
		interval = 200 * time.Millisecond
	}
	return newProgress(os.Stdout, tty, interval, total)
}

func newProgress(w io.Writer, tty bool, interval time.Duration, total int) *Progress {
	p := &Progress{w: w, tty: tty, interval: interval, total: total, start: time.Now(),
		losses: map[string]float64{}, stop: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.print()
			case <-p.stop:
				return
			}
		}
	}()
	return p
}

// Step counts one training step of the named run and notes its loss.
func (p *Progress) Step(run string, loss float64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.done++
	p.losses[run] = loss
	p.mu.Unlock()
}

// Skip counts steps a run will not take (it stopped early).
func (p *Progress) Skip(steps int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.done += steps
	p.mu.Unlock()
}

// Finished removes a run from the loss display.
func (p *Progress) Finished(run string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	delete(p.losses, run)
	p.mu.Unlock()
}

// Stop prints the final state and ends the display.
func (p *Progress) Stop() {
	if p == nil {
		return
	}
	close(p.stop)
	p.wg.Wait()
	p.print()
	if p.tty {
		fmt.Fprintln(p.w)
	}
}

func (p *Progress) print() {
	p.mu.Lock()
	defer p.mu.Unlock()
	elapsed := time.Since(p.start)
	eta := "?"
	if p.done > 0 {
		rest := time.Duration(float64(elapsed) * float64(p.total-p.done) / float64(p.done))
		eta = rest.Round(time.Second).String()
	}
	names := make([]string, 0, len(p.losses))
	for name := range p.losses {
		names = append(names, name)
	}
	slices.Sort(names)
	var losses []string
	for _, name := range names {
		losses = append(losses, fmt.Sprintf("%s %.3f", name, p.losses[name]))
	}
	line := fmt.Sprintf("steps %d/%d (%.0f%%)  elapsed %v  ETA %s", p.done, p.total,
		100*float64(p.done)/float64(max(p.total, 1)), elapsed.Round(time.Second), eta)
	if len(losses) > 0 {
		line += "  loss: " + strings.Join(losses, ", ")
	}
	if !p.tty {
		fmt.Fprintln(p.w, line)
		return
	}
	pad := ""
	if n := len(line); n < p.width {
		pad = strings.Repeat(" ", p.width-n)
	}
	p.width = len(line)
	fmt.Fprint(p.w, "\r"+line+pad)
}
