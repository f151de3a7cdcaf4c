//go:build race

package bn

import (
	"runtime"
	"unsafe"
)

// raceRead and raceWrite tell the race detector which memory an assembly kernel is about
// to read or write: it sees Go code's accesses by itself, but not assembly's.
func raceRead(s []float32) {
	if len(s) > 0 {
		runtime.RaceReadRange(unsafe.Pointer(unsafe.SliceData(s)), len(s)*4)
	}
}

func raceWrite(s []float32) {
	if len(s) > 0 {
		runtime.RaceWriteRange(unsafe.Pointer(unsafe.SliceData(s)), len(s)*4)
	}
}

// raceWrite64 is raceWrite for the float64 sums and moments that kernels write.
func raceWrite64(s []float64) {
	if len(s) > 0 {
		runtime.RaceWriteRange(unsafe.Pointer(unsafe.SliceData(s)), len(s)*8)
	}
}
