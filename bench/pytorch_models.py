#!/usr/bin/python3
"""skNet and skResNet in PyTorch, mirroring models/sknet.cc, models/skresnet.cc and
models/sketch_model.cc layer for layer and name for name (state-dict keys equal the C++
module's named_parameters/named_buffers), plus the timing harness that
bench/compare_pytorch.py runs next to bench/models_bench.cc.

Needs Debian's python3-torch (1.13.1, the same libtorch1.13 and oneDNN 2.6 the C++ side links):
run it with /usr/bin/python3, not a pyenv/venv python.

  /usr/bin/python3 bench/pytorch_models.py [--arch sknet|skresnet] [--mode train|infer]
      [--precision bf16|fp32] [--batch 32] [--threads 2] [--size 128] [--classes 345]
      [--warmup 1] [--iterations 3] [--infer-impl eager|jit] [--bf16-weights]
      [--malloc glibc|heap] [--describe]

What is timed (as in models_bench.cc):
  train: zero_grad, forward + cross-entropy under torch.autocast('cpu', bfloat16) when bf16,
         backward outside autocast, one Adam(lr=1e-4) step. Model and input channels-last.
  infer: eval, torch.inference_mode, BatchNorm folded into the convs.
         eager: nn.utils.fusion.fuse_conv_bn_eval (what FoldBatchNorm does), channels-last,
                one autocast scope per batch (as the C++ server does per request);
                --bf16-weights also stores the folded weights in bf16 (CastWeightsForInference:
                autocast then casts only the images; bit-identical outputs).
         jit:   torch.jit.trace under autocast + torch.jit.freeze (freeze folds BN and
                constant-folds the bf16 weight casts); for fp32 also
                torch.jit.optimize_for_inference (oneDNN layout conversion, conv+ReLU fusion).
                Two untimed calls after freezing let the profiling executor optimize.
"""
import argparse
import ctypes
import json
import sys
import time

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval

FEATURE_SIZE = 1024  # width of fc_1 (kFeatureSize)


class ConvBnRelu(nn.Module):
    """conv 3x3 / stride 1 / padding 1 without bias, BatchNorm2d, in-place ReLU (ConvBnReluImpl)."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        # He initialisation, fan_out, as the C++ constructor does.
        nn.init.kaiming_normal_(self.conv.weight, a=0, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        y = self.conv(x) if self.bn is None else self.bn(self.conv(x))
        return F.relu(y, inplace=True)

    def fold(self):
        """ConvBnReluImpl::Fold: BatchNorm into the conv's weight and a new bias (eval only)."""
        if self.bn is None:
            return
        self.conv = fuse_conv_bn_eval(self.conv, self.bn)
        self.bn = None


class SketchModel(nn.Module):
    def __init__(self, num_classes, input_size, dropout=0.0):
        super().__init__()
        assert num_classes >= 2 and input_size > 0 and input_size % 16 == 0
        self.num_classes = num_classes
        self.input_size = input_size
        self.dropout = dropout

    @staticmethod
    def pool(x):
        return F.max_pool2d(x, kernel_size=3, stride=2, padding=1)

    def register_head(self, in_features):
        self.fc_1 = nn.Linear(in_features, FEATURE_SIZE)
        self.fc_2 = nn.Linear(FEATURE_SIZE, self.num_classes)

    def head(self, x):
        features = F.relu(self.fc_1(x.flatten(1)))
        hidden = features
        if self.dropout > 0 and self.training:
            hidden = F.dropout(features, self.dropout, training=True)
        logits = self.fc_2(hidden)
        # Under bf16 autocast the linears answer bf16; the C++ Head returns float32.
        return logits.float(), features.float()

    def fold(self):
        """FoldBatchNorm: eval mode, every ConvBnRelu folded."""
        self.eval()
        for m in self.modules():
            if isinstance(m, ConvBnRelu):
                m.fold()
        return self


class SkNet(SketchModel):
    def __init__(self, num_classes, input_size=128, dropout=0.0):
        super().__init__(num_classes, input_size, dropout)
        self.conv1_1 = ConvBnRelu(1, 64)
        self.conv1_2 = ConvBnRelu(64, 64)
        self.conv2_1 = ConvBnRelu(64, 128)
        self.conv2_2 = ConvBnRelu(128, 128)
        self.conv3_1 = ConvBnRelu(128, 128)
        self.conv3_2 = ConvBnRelu(128, 128)
        self.conv4_1 = ConvBnRelu(128, 256)
        self.conv4_2 = ConvBnRelu(256, 256)
        side = input_size // 16
        self.register_head(256 * side * side)

    def forward(self, images):
        x = self.pool(self.conv1_2(self.conv1_1(images)))
        x = self.pool(self.conv2_2(self.conv2_1(x)))
        x = self.pool(self.conv3_2(self.conv3_1(x)))
        x = self.pool(self.conv4_2(self.conv4_1(x)))
        return self.head(x)


class ResidualPair(nn.Module):
    """conv_b(conv_a(x)) + x; both units end in their ReLU, no ReLU after the sum."""

    def __init__(self, channels):
        super().__init__()
        self.conv_a = ConvBnRelu(channels, channels)
        self.conv_b = ConvBnRelu(channels, channels)

    def forward(self, x):
        return self.conv_b(self.conv_a(x)) + x  # not in place, as in C++


class SkResNet(SketchModel):
    def __init__(self, num_classes, input_size=128, dropout=0.0):
        super().__init__(num_classes, input_size, dropout)
        self.conv1_1 = ConvBnRelu(1, 64)
        self.conv1_2 = ConvBnRelu(64, 64)
        self.res2 = ResidualPair(64)
        self.res3 = ResidualPair(64)
        self.conv4_1 = ConvBnRelu(64, 128)
        self.res5 = ResidualPair(128)
        self.res6 = ResidualPair(128)
        self.conv7_1 = ConvBnRelu(128, 256)
        self.res8 = ResidualPair(256)
        self.res9 = ResidualPair(256)
        self.conv10_1 = ConvBnRelu(256, 256)
        side = input_size // 16
        self.register_head(256 * side * side)

    def forward(self, images):
        x = self.pool(self.conv1_2(self.conv1_1(images)))  # pool_1
        x = self.pool(self.conv4_1(self.res3(self.res2(x))))  # pool_2
        x = self.pool(self.conv7_1(self.res6(self.res5(x))))  # pool_3
        x = self.pool(self.conv10_1(self.res9(self.res8(x))))  # pool_4
        return self.head(x)


ARCHITECTURES = {"sknet": SkNet, "skresnet": SkResNet}


def build(arch, classes, size, dropout=0.0):
    return ARCHITECTURES[arch](classes, size, dropout)


def describe(model):
    """The same JSON shape as `sketch_models_bench --describe` gives per network."""
    return {
        "parameters": [[n, list(p.shape)] for n, p in model.named_parameters()],
        "buffers": [[n, list(b.shape)] for n, b in model.named_buffers()],
        "count": sum(p.numel() for p in model.parameters()),
    }


def set_threads(threads):
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)  # as SetTorchThreads; only before inter-op work
    except RuntimeError:
        pass


def keep_large_allocations_in_heap():
    """KeepLargeAllocationsInHeap() of models/torch_runtime.cc for this process: glibc malloc
    serves every block from its heap and never trims it (no mmap + page faults per big tensor)."""
    libc = ctypes.CDLL("libc.so.6")
    m_trim_threshold, m_mmap_max = -1, -4  # <malloc.h>
    ok = libc.mallopt(m_mmap_max, 0) == 1
    return libc.mallopt(m_trim_threshold, 2**31 - 1) == 1 and ok


def _timed(fn, warmup, iterations, batch):
    for _ in range(warmup):
        fn()
    cpu0, wall0 = time.process_time(), time.perf_counter()  # process CPU: all threads
    for _ in range(iterations):
        fn()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    images = iterations * batch
    return {"images_per_s": images / wall, "images_per_cpu_s": images / cpu if cpu > 0 else 0.0,
            "wall_s": wall, "cpu_s": cpu, "iterations": iterations}


def bench_train(arch, batch=32, size=128, classes=345, bf16=True, channels_last=True,
                warmup=1, iterations=3, seed=1):
    torch.manual_seed(seed)
    model = build(arch, classes, size)
    images = torch.rand(batch, 1, size, size)
    labels = torch.randint(0, classes, (batch,))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    adam = torch.optim.Adam(model.parameters(), lr=1e-4)  # foreach=None: the CPU default

    def step():
        adam.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(images)[0], labels)
        loss.backward()
        adam.step()
        return loss

    result = _timed(step, warmup, iterations, batch)
    result["parameters"] = describe(model)["count"]
    return result


def prepare_inference(arch, batch=32, size=128, classes=345, bf16=True, channels_last=True,
                      impl="eager", bf16_weights=False, seed=1):
    """(callable, parameter count) for one eval batch, BatchNorm folded."""
    torch.manual_seed(seed)
    model = build(arch, classes, size)
    count = describe(model)["count"]
    images = torch.rand(batch, 1, size, size)
    model.eval()
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    if impl == "eager":
        model.fold()
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        if bf16_weights:
            if not bf16:
                raise ValueError("bf16 weights need bf16 precision")
            model = model.to(torch.bfloat16)  # keeps channels-last

        def forward():
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16,
                                                          enabled=bf16):
                return model(images)[0]
        return forward, count
    if impl != "jit":
        raise ValueError(f"unknown inference implementation {impl!r}")
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    # Record the autocast casts as graph ops so freeze can constant-fold the weight casts.
    torch._C._jit_set_autocast_mode(False)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        traced = torch.jit.trace(model, images, check_trace=False)
    frozen = torch.jit.freeze(traced)  # folds conv+BN among others
    if not bf16:
        frozen = torch.jit.optimize_for_inference(frozen)

    def forward():
        with torch.no_grad():
            return frozen(images)[0]
    # The profiling executor optimizes the graph on its second call: part of preparing, not of
    # the warm-up both sides share.
    forward()
    forward()
    return forward, count


def bench_infer(arch, batch=32, size=128, classes=345, bf16=True, channels_last=True,
                impl="eager", bf16_weights=False, warmup=1, iterations=5, seed=1):
    forward, count = prepare_inference(arch, batch, size, classes, bf16, channels_last, impl,
                                       bf16_weights, seed)
    result = _timed(forward, warmup, iterations, batch)
    result["parameters"] = count
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", choices=sorted(ARCHITECTURES), default="sknet")
    p.add_argument("--mode", choices=["train", "infer"], default="train")
    p.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    p.add_argument("--layout", choices=["nhwc", "nchw"], default="nhwc")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--classes", type=int, default=345)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--iterations", type=int, default=3)
    p.add_argument("--infer-impl", choices=["eager", "jit"], default="eager")
    p.add_argument("--bf16-weights", action="store_true", help="infer eager: weights in bf16")
    p.add_argument("--malloc", choices=["glibc", "heap"], default="glibc")
    p.add_argument("--describe", action="store_true",
                   help="print parameter/buffer names and shapes of both nets as JSON")
    a = p.parse_args()
    if a.describe:
        json.dump({n: describe(build(n, a.classes, a.size)) for n in ARCHITECTURES}, sys.stdout,
                  indent=1)
        print()
        return
    set_threads(a.threads)
    if a.malloc == "heap" and not keep_large_allocations_in_heap():
        sys.exit("mallopt refused")
    common = dict(batch=a.batch, size=a.size, classes=a.classes, bf16=a.precision == "bf16",
                  channels_last=a.layout == "nhwc", warmup=a.warmup, iterations=a.iterations)
    if a.mode == "train":
        r = bench_train(a.arch, **common)
    else:
        r = bench_infer(a.arch, impl=a.infer_impl, bf16_weights=a.bf16_weights, **common)
    print(json.dumps(r))


if __name__ == "__main__":
    main()
