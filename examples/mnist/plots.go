package main

import (
	"fmt"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Series is one curve of a plot.
type Series struct {
	Name   string
	X, Y   []float64
	Color  int  // index into plotutil's palette
	Dashed bool // dashed lines mark the baseline network
}

// Figure describes a line plot saved as a PNG.
type Figure struct {
	Title, XLabel, YLabel string
	LogY                  bool
	LegendTop             bool    // legend in the top right corner instead of the bottom right
	YMin, YMax            float64 // fixed Y range when YMin < YMax
	Series                []Series
}

// Save draws the figure into a small PNG (6×4 inches at 96 dpi).
func (f Figure) Save(path string) error {
	p := plot.New()
	p.Title.Text = f.Title
	p.X.Label.Text = f.XLabel
	p.Y.Label.Text = f.YLabel
	p.Add(plotter.NewGrid())
	p.Legend.Top = f.LegendTop
	if f.LogY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = decadeTicks{}
	}
	for _, s := range f.Series {
		pts := make(plotter.XYs, 0, len(s.X))
		for i := range s.X {
			y := s.Y[i]
			// Drop what a line cannot show: NaN from a diverged run, and on a log axis
			// values that are not positive (a gradient that underflowed to zero).
			if math.IsNaN(y) || math.IsInf(y, 0) || (f.LogY && y <= 0) {
				continue
			}
			pts = append(pts, plotter.XY{X: s.X[i], Y: y})
		}
		if len(pts) == 0 {
			continue
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		l.Color = plotutil.Color(s.Color)
		l.Width = vg.Points(1.5)
		if s.Dashed {
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		p.Add(l)
		p.Legend.Add(s.Name, l)
	}
	if f.YMin < f.YMax {
		p.Y.Min, p.Y.Max = f.YMin, f.YMax
	}
	p.X.Tick.Marker = plainTicks{}
	if len(f.Series) > 4 {
		// Room on the right for a long legend, so it does not cover the curves.
		p.X.Max = p.X.Min + 1.5*(p.X.Max-p.X.Min)
	}
	return p.Save(6*vg.Inch, 4*vg.Inch, path)
}

// plainTicks labels training steps as 2500, not 2500.00.
type plainTicks struct{}

func (plainTicks) Ticks(xMin, xMax float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(xMin, xMax)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', -1, 64)
		}
	}
	return ts
}

// decadeTicks labels a log axis at powers of ten, at most about eight of them, since
// gradient norms here span thirty decades.
type decadeTicks struct{}

func (decadeTicks) Ticks(yMin, yMax float64) []plot.Tick {
	lo, hi := int(math.Floor(math.Log10(yMin))), int(math.Ceil(math.Log10(yMax)))
	step := max((hi-lo+7)/8, 1)
	var ts []plot.Tick
	for e := lo; e <= hi; e++ {
		t := plot.Tick{Value: math.Pow(10, float64(e))}
		if t.Value < yMin || t.Value > yMax {
			continue // ticks outside the axis would still take up room in the layout
		}
		if (e-lo)%step == 0 {
			t.Label = fmt.Sprintf("1e%d", e)
		}
		ts = append(ts, t)
	}
	return ts
}
