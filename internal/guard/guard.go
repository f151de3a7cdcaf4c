//go:build unix

// Package guard allocates float32 slices that sit flush against inaccessible memory, so a
// kernel that reads or writes one element past either end of a slice faults at once
// instead of silently touching a neighbour's data.
package guard

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// A Region is a span of readable, writable memory with an inaccessible page on each side.
type Region struct {
	mem  []byte // the whole mapping, guard pages included
	data []byte // the accessible middle
}

// New maps a region that holds at least n float32 values between its guard pages.
func New(n int) (*Region, error) {
	page := os.Getpagesize()
	size := (max(n*4, 1) + page - 1) / page * page
	mem, err := syscall.Mmap(-1, 0, size+2*page, syscall.PROT_NONE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("guard: mmap: %w", err)
	}
	data := mem[page : page+size]
	if err := syscall.Mprotect(data, syscall.PROT_READ|syscall.PROT_WRITE); err != nil {
		syscall.Munmap(mem)
		return nil, fmt.Errorf("guard: mprotect: %w", err)
	}
	return &Region{mem: mem, data: data}, nil
}

// Tail returns n values that end exactly where the trailing guard page begins: reading
// or writing past the end faults. Its start moves with n, so lengths also vary alignment.
func (r *Region) Tail(n int) []float32 {
	all := r.floats()
	return all[len(all)-n:]
}

// Head returns n values that start off values after the leading guard page: reading or
// writing more than off values before the start faults.
func (r *Region) Head(n, off int) []float32 {
	return r.floats()[off : off+n : off+n]
}

// Tail64 is Tail for float64 values.
func (r *Region) Tail64(n int) []float64 {
	all := unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(r.data))), len(r.data)/8)
	return all[len(all)-n:]
}

func (r *Region) floats() []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(r.data))), len(r.data)/4)
}

// Free unmaps the region; its slices must not be used afterwards.
func (r *Region) Free() error { return syscall.Munmap(r.mem) }
