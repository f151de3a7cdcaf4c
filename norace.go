//go:build !race

package bn

func raceRead([]float32)    {}
func raceWrite([]float32)   {}
func raceRead64([]float64)  {}
func raceWrite64([]float64) {}
