#!/usr/bin/env python3
"""Writes the PyTorch golden fixtures in testdata/golden/ for golden_test.go.

Run by hand from the repository root, with Debian's python3-torch:

    python3 testdata/gen_golden.py

Inputs are float32 values; PyTorch computes on them in float64, so the fixtures hold the
exact results bn is judged against. Tensors are stored flat in the case's layout.
"""
import json
import os

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")


def f32(t):
    """The values of a float32 tensor, exactly, as Python floats."""
    return [float(v) for v in t.to(torch.float32).reshape(-1)]


def flat(t, channels_last):
    """t of shape (N, C, *spatial) laid out flat as bn sees it."""
    if channels_last and t.dim() > 2:
        t = t.movedim(1, -1)
    return [float(v) for v in t.contiguous().reshape(-1)]


def case(name, shape, channels_last=False, batches=1, momentum=0.1, affine=True,
         mean=0.0, std=1.0, eps=1e-5, seed=0):
    g = torch.Generator().manual_seed(seed)
    n, c = shape[0], shape[1]
    s = 1
    for d in shape[2:]:
        s *= d
    xs = [(mean + std * torch.randn(shape, generator=g)).to(torch.float32) for _ in range(batches)]
    weight = (1 + 0.5 * torch.randn(c, generator=g)).to(torch.float32)
    bias = (0.5 * torch.randn(c, generator=g)).to(torch.float32)
    rm0 = (0.3 * torch.randn(c, generator=g)).to(torch.float32)
    rv0 = (1 + torch.rand(c, generator=g)).to(torch.float32)
    dy = torch.randn(shape, generator=g).to(torch.float32)

    rm, rv = rm0.double().clone(), rv0.double().clone()
    w64 = weight.double() if affine else None
    b64 = bias.double() if affine else None
    nbt = 0
    for x in xs:
        nbt += 1
        factor = momentum if momentum is not None else 1.0 / nbt
        x64 = x.double().requires_grad_(True)
        wg = w64.clone().requires_grad_(True) if affine else None
        bg = b64.clone().requires_grad_(True) if affine else None
        y = F.batch_norm(x64, rm, rv, wg, bg, training=True, momentum=factor, eps=eps)
    # Gradients of the last training step.
    y.backward(dy.double())
    y_eval = F.batch_norm(xs[-1].double(), rm, rv, w64, b64, training=False, eps=eps)

    fixture = {
        "name": name,
        "n": n, "c": c, "s": s,
        "layout": "ChannelsLast" if channels_last else "ChannelsFirst",
        "eps": eps,
        "momentum": momentum,
        "affine": affine,
        "batches": [flat(x, channels_last) for x in xs],
        "weight": f32(weight), "bias": f32(bias),
        "running_mean0": f32(rm0), "running_var0": f32(rv0),
        "y": flat(y.detach(), channels_last),
        "running_mean": rm.tolist(), "running_var": rv.tolist(),
        "num_batches_tracked": nbt,
        "y_eval": flat(y_eval, channels_last),
        "dy": flat(dy, channels_last),
        "dx": flat(x64.grad, channels_last),
        "dweight": wg.grad.tolist() if affine else None,
        "dbias": bg.grad.tolist() if affine else None,
    }
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(fixture, f)


def main():
    os.makedirs(OUT, exist_ok=True)
    case("nc_n2", (2, 3))
    case("nc_16x7", (16, 7), seed=1)
    case("nc_channels_last", (16, 7), channels_last=True, seed=2)
    case("ncl_4x5x9", (4, 5, 9), seed=3)
    case("nlc_2x5x7", (2, 5, 7), channels_last=True, seed=4)
    case("nchw_3x4x5x6", (3, 4, 5, 6), seed=5)
    case("nhwc_3x4x5x6", (3, 4, 5, 6), channels_last=True, seed=6)
    case("nchw_odd_c13", (2, 13, 3, 3), seed=7)
    case("ncdhw_2x3x2x3x4", (2, 3, 2, 3, 4), seed=8)
    case("nchw_large_mean", (4, 3, 6, 6), mean=1e4, std=1.0, seed=9)
    case("nhwc_large_mean", (4, 3, 6, 6), channels_last=True, mean=3e4, std=3.0, seed=10)
    case("nchw_cumulative", (3, 4, 5, 5), batches=3, momentum=None, seed=11)
    case("nhwc_momentum_3_batches", (3, 4, 5, 5), channels_last=True, batches=3, seed=12)
    case("ncl_no_affine", (5, 6, 7), affine=False, seed=13)
    case("nc_eps_1e-3", (8, 5), eps=1e-3, momentum=0.01, seed=14)


if __name__ == "__main__":
    main()
