// Command _asm generates bn's amd64 kernels, bn_amd64.s: each kernel twice from the same
// code, for AVX2 (YMM) and for AVX-512F (ZMM). See README.md.
package main

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"

	. "github.com/mmcloughlin/avo/build"
)

func main() {
	flag.Parse()
	out := flag.Lookup("out").Value.String()
	// The header of the output names the command that made it: name the one go generate
	// runs, wherever the output goes, so that a regenerated copy is identical.
	os.Args = []string{os.Args[0], "-out", "../bn_amd64.s"}
	ConstraintExpr("!purego")
	tables()
	for _, w := range []*isa{avx2(), avx512()} {
		w.momentsRows()
		w.momentsShortRows()
		w.momentsCols()
		w.normalize()
		if !w.zmm { // the AVX-512 set takes this loop too (see reduceRows)
			w.reduceRows()
		}
		w.reduceShortRows()
		w.reduceCols()
		w.grad()
		w.finite()
		w.invStd()
		w.fold()
		w.scale()
		w.foldWhole()
		w.save()
		w.track()
		w.widenAll()
		w.narrowAll()
		w.gradCoefficients()
	}
	Generate()
	if out != "" && out != "-" {
		checkAVX2Registers(out)
	}
}

// checkAVX2Registers fails unless the AVX2 functions use only X0-X15 and Y0-Y15: a
// higher register needs an EVEX encoding, which an AVX2-only CPU does not run.
func checkAVX2Registers(file string) {
	src, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	high := regexp.MustCompile(`\b[XYZ](1[6-9]|2[0-9]|3[01])\b`)
	fn := ""
	for _, line := range strings.Split(string(src), "\n") {
		if strings.HasPrefix(line, "TEXT ") {
			fn = line
		}
		if strings.Contains(fn, "AVX2(SB)") && high.MatchString(line) {
			fmt.Fprintf(os.Stderr, "%s: AVX2 code uses a register above 15: %s\n", file, strings.TrimSpace(line))
			os.Exit(1)
		}
	}
}
