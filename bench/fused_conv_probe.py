#!/usr/bin/python3
"""What torch.compile's conv + ReLU fusion is worth without compiling: PyTorch eager inference of
the folded network (bench/pytorch_models.py, as compare_pytorch.py times it) against the same
network with every conv + ReLU run as one oneDNN primitive with a ReLU post-op
(torch.ops.mkldnn._convolution_pointwise, the operator inductor emits on CPU). A probe for
docs/results.md ("How close to the roof"), not part of the product.

  .venv/torch2/bin/python bench/fused_conv_probe.py [--nets sknet,skresnet] [--size 128]
      [--precisions bf16,fp32] [--batch 32] [--threads 2] [--batches 8] [--repeats 3]

Prints images/s (best of --repeats timings of --batches batches each) and the largest difference
of the logits between the two (0: the fusion changes nothing but the speed).
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pytorch_models as pm  # noqa: E402


def fused_forward(self, x):
    conv = self.conv
    return torch.ops.mkldnn._convolution_pointwise(
        x, conv.weight, conv.bias, list(conv.padding), list(conv.stride), list(conv.dilation),
        conv.groups, "relu", [None], "")


def images_per_s(fn, batch, batches, repeats):
    fn()
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(batches):
            fn()
        best = min(best, (time.perf_counter() - start) / batches)
    return batch / best


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nets", default="sknet,skresnet")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--precisions", default="bf16,fp32")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batches", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    pm.set_threads(a.threads)
    pm.keep_large_allocations_in_heap()
    eager_forward = pm.ConvBnRelu.forward
    for net in a.nets.split(","):
        for precision in a.precisions.split(","):
            dtype = torch.bfloat16 if precision == "bf16" else torch.float32
            model = pm.build(net, 345, a.size).fold().to(memory_format=torch.channels_last)
            model = model.to(dtype)
            x = torch.rand(a.batch, 1, a.size, a.size).to(memory_format=torch.channels_last)
            x = x.to(dtype)
            rates, logits = {}, {}
            with torch.inference_mode():
                for name, forward in (("eager", eager_forward), ("fused", fused_forward)):
                    pm.ConvBnRelu.forward = forward
                    logits[name] = model(x)[0].float()
                    rates[name] = images_per_s(lambda: model(x), a.batch, a.batches, a.repeats)
            pm.ConvBnRelu.forward = eager_forward
            diff = float((logits["eager"] - logits["fused"]).abs().max())
            print(f"{net} {a.size} px {precision}: eager {rates['eager']:.1f} images/s, conv + ReLU "
                  f"fused {rates['fused']:.1f} ({rates['fused'] / rates['eager']:.3f}x); "
                  f"max |logit difference| {diff:.3g}", flush=True)


if __name__ == "__main__":
    main()
