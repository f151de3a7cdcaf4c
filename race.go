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

// raceRead64 and raceWrite64 are raceRead and raceWrite for the float64 sums and
// moments that kernels read and write.
func raceRead64(s []float64) {
	if len(s) > 0 {
		runtime.RaceReadRange(unsafe.Pointer(unsafe.SliceData(s)), len(s)*8)
	}
}

func raceWrite64(s []float64) {
	if len(s) > 0 {
		runtime.RaceWriteRange(unsafe.Pointer(unsafe.SliceData(s)), len(s)*8)
	}
}
