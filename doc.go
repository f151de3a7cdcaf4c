// Package bn is batch normalization (Ioffe & Szegedy, 2015) on float32 tensors, with its
// hot loops in assembly: AVX2 and AVX-512 on amd64, NEON on arm64, chosen at init from the
// CPU's features, and a portable Go implementation that every SIMD kernel is tested
// against.
//
// # Tensors
//
// A tensor is a flat []float32 described by a Shape: N samples, C channels and S spatial
// positions per channel (H·W for images), in one of two layouts. ChannelsFirst is PyTorch's
// default (NC, NCL, NCHW, NCDHW); ChannelsLast is NLC, NHWC and NDHWC. A [N][C] matrix has
// S = 1 and is the same in both.
//
// # Semantics
//
// BatchNorm follows torch.nn.BatchNorm{1,2,3}d exactly: Forward is training mode (batch
// statistics, biased variance for normalization, unbiased for the running variance,
// running = (1-momentum)·running + momentum·batch), Infer is evaluation mode with the
// running statistics, Backward gives the gradients of Forward. NewONNX and NewKeras
// translate those frameworks' conventions (see conventions.go for the table). Fold fixes
// a trained layer for inference: its Folded.Infer writes Infer's outputs, bit for bit,
// without redoing Infer's per-channel work on every call, which is most of a small
// batch's time.
//
// # Accuracy
//
// Statistics come from one pass over the data: float32 sums of deviations from a shift
// close to the mean, over short chunks, merged in float64 with Chan's form of Welford's
// method. They stay accurate when the mean is large against the spread (1e4 times and
// more), where E[x²]-E[x]² loses every digit. Normalization subtracts the float32 mean
// before scaling and folds the part of the mean float32 cannot hold into the shift, so the
// outputs keep float32 accuracy too. Only a channel whose mean lies within four standard
// deviations of zero has the whole mean folded into its shift, one multiply-add a value,
// since there that adds at most one rounding of |β| + 4|γ| to an output. A constant
// channel normalizes to exactly its bias; a NaN or infinity in a channel makes that
// channel NaN and leaves the others untouched.
//
// # Kernel sets
//
// Kernel names the set in use and Kernels those this CPU runs; UseKernel or the
// environment variable BN_KERNEL pins one. Building with the purego tag leaves only the
// generic Go kernels. GODEBUG=cpu.avx512f=off steers the choice as it does for the
// standard library.
//
// # Errors and memory
//
// Every function checks its arguments and returns an error wrapping ErrShape or ErrParam
// that says what was wrong; when it does, nothing has been written. No function panics,
// none reads or writes outside the slices it is given, and none allocates in steady state
// (Forward allocates Saved's slices only when they are nil; Fold allocates the Folded).
package bn
