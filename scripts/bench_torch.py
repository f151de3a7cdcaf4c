#!/usr/bin/env python3
"""PyTorch batch norm on bn's benchmark shapes, single thread, as multiples of copy time.

Run with Debian's python3-torch: python3 scripts/bench_torch.py, optionally with
ATEN_CPU_CAPABILITY=avx2 or avx512 to pick its kernels. Prints Forward (training),
Infer (eval) and Backward ratios to a copy_ of the same tensor, medians of 7.
"""
import time, torch, statistics
import torch.nn.functional as F
torch.set_num_threads(1)
shapes={"NC_256x1024":((256,1024),False),"NCHW_32x64x56x56":((32,64,56,56),False),"NHWC_32x64x56x56":((32,64,56,56),True),
"NCHW_32x512x7x7":((32,512,7,7),False),"NHWC_32x512x7x7":((32,512,7,7),True),"NCHW_1x256x14x14":((1,256,14,14),False),
"NCHW_64x256x14x14":((64,256,14,14),False)}
def t(f, reps=7):
    f()
    n=1
    while True:
        s=time.perf_counter()
        for _ in range(n): f()
        if time.perf_counter()-s>0.02: break
        n*=2
    ts=[]
    for _ in range(reps):
        s=time.perf_counter()
        for _ in range(n): f()
        ts.append((time.perf_counter()-s)/n)
    return statistics.median(ts)
print(torch.__version__, torch.__config__.parallel_info().splitlines()[1].strip())
for name,(shp,cl) in shapes.items():
    x=torch.randn(shp)
    if cl and x.dim()==4: x=x.contiguous(memory_format=torch.channels_last)
    y=torch.empty_like(x)
    C=shp[1]
    w=torch.ones(C); b=torch.zeros(C); rm=torch.zeros(C); rv=torch.ones(C)
    dy=torch.randn_like(x)
    c=t(lambda: y.copy_(x))
    fwd=t(lambda: torch.native_batch_norm(x,w,b,rm,rv,True,0.1,1e-5))
    inf=t(lambda: torch.native_batch_norm(x,w,b,rm,rv,False,0.1,1e-5))
    out,sm,si=torch.native_batch_norm(x,w,b,rm,rv,True,0.1,1e-5)
    bwd=t(lambda: torch.ops.aten.native_batch_norm_backward(dy,x,w,rm,rv,sm,si,True,1e-5,[True,True,True]))
    print(f"| {name} | {fwd/c:.2f} | {inf/c:.2f} | {bwd/c:.2f} | copy {c*1e6:.1f} µs")
