//go:build !linux

package bench

import "errors"

func hugeFloats(n int) ([]float32, func(), error) {
	return nil, nil, errors.New("2 MiB pages are only asked for on Linux")
}
