package bench

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePage is the size of the pages hugeFloats asks for.
const hugePage = 2 << 20

// hugeFloats returns n float32s in fresh memory that the kernel is asked to back with
// 2 MiB pages (madvise MADV_HUGEPAGE, which transparent huge pages in "madvise" mode
// honour), and the function that unmaps it.
func hugeFloats(n int) ([]float32, func(), error) {
	size := (4*n + hugePage - 1) &^ (hugePage - 1)
	b, err := unix.Mmap(-1, 0, size+hugePage, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return nil, nil, err
	}
	off := (hugePage - int(uintptr(unsafe.Pointer(&b[0]))%hugePage)) % hugePage
	if err := unix.Madvise(b[off:off+size], unix.MADV_HUGEPAGE); err != nil {
		unix.Munmap(b)
		return nil, nil, err
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[off])), n), func() { unix.Munmap(b) }, nil
}
