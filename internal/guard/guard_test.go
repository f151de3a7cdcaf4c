//go:build unix

package guard

import (
	"runtime/debug"
	"testing"
	"unsafe"
)

func TestRegionBounds(t *testing.T) {
	r, err := New(100)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Free()
	tail := r.Tail(7)
	if len(tail) != 7 || cap(tail) != 7 {
		t.Fatalf("Tail(7): len %d cap %d", len(tail), cap(tail))
	}
	head := r.Head(5, 3)
	if len(head) != 5 || cap(head) != 5 {
		t.Fatalf("Head(5, 3): len %d cap %d", len(head), cap(head))
	}
	for i := range tail {
		tail[i] = float32(i) // every element is writable
	}
	for i := range head {
		head[i] = float32(i)
	}
}

// TestGuardPagesFault proves the guard pages are there: touching the value just past a
// Tail slice, or just before a Head slice at offset 0, must fault.
func TestGuardPagesFault(t *testing.T) {
	r, err := New(10)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Free()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	tail := r.Tail(4)
	head := r.Head(4, 0)
	for name, p := range map[string]unsafe.Pointer{
		"after Tail":  unsafe.Add(unsafe.Pointer(&tail[3]), 4),
		"before Head": unsafe.Add(unsafe.Pointer(&head[0]), -4),
	} {
		if !faults(p) {
			t.Errorf("reading the value %s did not fault", name)
		}
	}
}

func faults(p unsafe.Pointer) (faulted bool) {
	defer func() { faulted = recover() != nil }()
	_ = *(*float32)(p)
	return false
}
