//go:build !race

package bn

func raceRead([]float32)    {}
func raceWrite([]float32)   {}
func raceWrite64([]float64) {}
