//go:build !unix

package guard

// A Region on systems without mmap is plain memory: out-of-bounds access goes unnoticed.
type Region struct {
	data   []float32
	data64 []float64
}

// New allocates a region that holds at least n float32 values.
func New(n int) (*Region, error) {
	return &Region{data: make([]float32, n), data64: make([]float64, (n+1)/2)}, nil
}

// Tail returns the last n values of the region.
func (r *Region) Tail(n int) []float32 { return r.data[len(r.data)-n:] }

// Head returns n values starting off values into the region.
func (r *Region) Head(n, off int) []float32 { return r.data[off : off+n : off+n] }

// Free releases the region.
func (r *Region) Free() error { return nil }

// Tail64 returns the last n float64 values of the region.
func (r *Region) Tail64(n int) []float64 { return r.data64[len(r.data64)-n:] }
