#!/usr/bin/python3
"""skNet and skResNet in PyTorch, mirroring models/sknet.cc, models/skresnet.cc and
models/sketch_model.cc layer for layer and name for name (state-dict keys equal the C++
module's named_parameters/named_buffers), plus the timing harness that
bench/compare_pytorch.py runs next to bench/models_bench.cc.

Runs under any PyTorch interpreter: Debian's python3-torch 1.13 (/usr/bin/python3, the same
libtorch1.13 and oneDNN 2.6 as the Debian LibTorch build) or a PyTorch 2.x one (e.g. the wheel in
.venv/torch2 after scripts/setup.sh --python-torch, whose LibTorch the default build links). --impl compile needs PyTorch >= 2 and a
C++ compiler (inductor builds its CPU kernels with g++).

  /usr/bin/python3 bench/pytorch_models.py [--arch sknet|skresnet] [--mode train|infer]
      [--precision bf16|fp32] [--batch 32] [--threads 2] [--size 128] [--classes 345]
      [--warmup 1] [--iterations 3] [--impl eager|jit|compile] [--bf16-weights]
      [--compile-mode default] [--no-freezing] [--malloc glibc|heap] [--describe]
  .venv/torch2/bin/python bench/pytorch_models.py --info [--flops] [--sizes 64,128] [--classes 345]

What is timed (as in models_bench.cc):
  train: zero_grad, forward + cross-entropy under torch.autocast('cpu', bfloat16) when bf16,
         backward outside autocast, one Adam(lr=1e-4) step. Model and input channels-last.
         compile: the same step with forward + autocast + cross-entropy as one torch.compile'd
         function (dynamic=False); AOTAutograd compiles the backward with it; zero_grad and
         Adam stay eager, as on the other sides.
  infer: eval, torch.inference_mode, BatchNorm folded into the convs.
         eager: nn.utils.fusion.fuse_conv_bn_eval (what FoldBatchNorm does), channels-last,
                one autocast scope per batch (as the C++ server does per request);
                --bf16-weights also stores the folded weights in bf16 (CastWeightsForInference:
                autocast then casts only the images; bit-identical outputs).
         jit:   torch.jit.trace under autocast + torch.jit.freeze (freeze folds BN and
                constant-folds the bf16 weight casts); for fp32 also
                torch.jit.optimize_for_inference (oneDNN layout conversion, conv+ReLU fusion).
                Two untimed calls after freezing let the profiling executor optimize.
         compile: the folded model, autocast inside the torch.compile'd function, with
                inductor's freezing (weights become constants: the bf16 casts fold away and
                oneDNN prepacks the conv weights, as jit.freeze does) unless --no-freezing.
  With compile, the first call (which compiles) is timed apart as compile_s and is not one of
  the --warmup calls; a recompile during the timed loop is an error, not a slow iteration.

--info prints one JSON line: torch version, the libtorch_cpu file this process loaded, whether
torch.compile exists, and per size in --sizes --describe's JSON (compare_pytorch.py's check);
with --flops also each net's FLOP per image, forward and training step (flops_per_image; null
before torch 2.1), which costs a forward and a backward per net and size.
"""
import argparse
import ctypes
import json
import os
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


# --device: where models and inputs live ("cpu" or "cuda"); autocast follows it.
DEVICE = "cpu"


def _synchronized(fn):
    """fn, then on a GPU a synchronization: the time is the kernels', not the launches'."""
    result = fn()
    if DEVICE != "cpu":
        torch.cuda.synchronize()
    return result


def _timed(fn, warmup, iterations, batch):
    for _ in range(warmup):
        _synchronized(fn)
    cpu0, wall0 = time.process_time(), time.perf_counter()  # process CPU: all threads
    for _ in range(iterations):
        _synchronized(fn)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    images = iterations * batch
    return {"images_per_s": images / wall, "images_per_cpu_s": images / cpu if cpu > 0 else 0.0,
            "wall_s": wall, "cpu_s": cpu, "iterations": iterations}


def _timed_compiled(fn, warmup, iterations, batch):
    """_timed after a first call that compiles (its wall time, apart, is compile_s); then no
    recompiles allowed, so the timed loop measures the compiled code only."""
    import torch._dynamo.config as dynamo_config
    wall0 = time.perf_counter()
    _synchronized(fn)
    compile_s = time.perf_counter() - wall0
    dynamo_config.error_on_recompile = True
    result = _timed(fn, warmup, iterations, batch)
    result["compile_s"] = compile_s
    return result


def _compile(fn, mode):
    if not hasattr(torch, "compile"):
        raise RuntimeError(f"torch {torch.__version__} has no torch.compile (needs >= 2.0)")
    # dynamic=False: the shapes never change; no symbolic-shape kernels or recompiles to them.
    return torch.compile(fn, mode=None if mode == "default" else mode, dynamic=False)


def bench_train(arch, batch=32, size=128, classes=345, bf16=True, channels_last=True,
                warmup=1, iterations=3, seed=1, impl="eager", compile_mode="default"):
    if impl not in ("eager", "compile"):
        raise ValueError(f"training step: --impl eager or compile, not {impl!r}")
    torch.manual_seed(seed)
    model = build(arch, classes, size).to(DEVICE)
    images = torch.rand(batch, 1, size, size, device=DEVICE)
    labels = torch.randint(0, classes, (batch,), device=DEVICE)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    adam = torch.optim.Adam(model.parameters(), lr=1e-4)  # foreach=None: the CPU default

    def forward_loss(x, y):
        with torch.autocast(DEVICE, dtype=torch.bfloat16, enabled=bf16):
            return F.cross_entropy(model(x)[0], y)

    loss_fn = _compile(forward_loss, compile_mode) if impl == "compile" else forward_loss

    def step():
        adam.zero_grad()
        loss = loss_fn(images, labels)
        loss.backward()  # outside autocast, as torch.autocast is meant to be used
        adam.step()
        return loss

    if impl == "compile":
        result = _timed_compiled(step, warmup, iterations, batch)
    else:
        result = _timed(step, warmup, iterations, batch)
    result["parameters"] = describe(model)["count"]
    return result


def prepare_inference(arch, batch=32, size=128, classes=345, bf16=True, channels_last=True,
                      impl="eager", bf16_weights=False, seed=1, compile_mode="default",
                      freezing=True):
    """(callable, parameter count) for one eval batch, BatchNorm folded."""
    torch.manual_seed(seed)
    model = build(arch, classes, size)
    count = describe(model)["count"]
    model = model.to(DEVICE)
    images = torch.rand(batch, 1, size, size, device=DEVICE)
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
            with torch.inference_mode(), torch.autocast(DEVICE, dtype=torch.bfloat16,
                                                          enabled=bf16):
                return model(images)[0]
        return forward, count
    if impl == "compile":
        if bf16_weights:
            raise ValueError("compile: the bf16 weight casts fold under freezing; "
                             "no --bf16-weights")
        model.fold()
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        import torch._inductor.config as inductor_config
        inductor_config.freezing = freezing

        def logits(x):
            # Autocast inside the compiled function: its casts are traced into the graph.
            with torch.autocast(DEVICE, dtype=torch.bfloat16, enabled=bf16):
                return model(x)[0]
        compiled = _compile(logits, compile_mode)

        def forward():
            with torch.inference_mode():  # grad off: what freezing requires
                return compiled(images)
        return forward, count
    if impl != "jit":
        raise ValueError(f"unknown inference implementation {impl!r}")
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    # Record the autocast casts as graph ops so freeze can constant-fold the weight casts.
    torch._C._jit_set_autocast_mode(False)
    with torch.no_grad(), torch.autocast(DEVICE, dtype=torch.bfloat16, enabled=bf16):
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
                impl="eager", bf16_weights=False, warmup=1, iterations=5, seed=1,
                compile_mode="default", freezing=True):
    forward, count = prepare_inference(arch, batch, size, classes, bf16, channels_last, impl,
                                       bf16_weights, seed, compile_mode, freezing)
    if impl == "compile":
        result = _timed_compiled(forward, warmup, iterations, batch)
    else:
        result = _timed(forward, warmup, iterations, batch)
    result["parameters"] = count
    return result


def loaded_libtorch_cpu():
    """The libtorch_cpu file this process mapped (the same file as a C++ side's, or not)."""
    with open("/proc/self/maps") as maps:
        return next((os.path.realpath(line.split()[-1]) for line in maps
                     if "libtorch_cpu.so" in line), "?")


def flops_per_image(arch, classes, size):
    """{"infer": FLOP of one image's forward (BatchNorm folded), "train": forward + backward of
    the training step}, counted by torch.utils.flop_counter (convolutions and matrix products,
    the backward as it runs: no gradient for the images); None where this torch lacks it."""
    try:
        from torch.utils.flop_counter import FlopCounterMode
    except ImportError:
        return None
    batch = 2
    images = torch.rand(batch, 1, size, size)
    labels = torch.zeros(batch, dtype=torch.long)
    model = build(arch, classes, size)
    with FlopCounterMode(display=False) as train:
        nn.functional.cross_entropy(model(images)[0], labels).backward()
    model.fold()
    with torch.no_grad(), FlopCounterMode(display=False) as infer:
        model(images)
    return {"infer": infer.get_total_flops() / batch, "train": train.get_total_flops() / batch}


def info(sizes, classes, flops):
    result = {"torch": torch.__version__, "libtorch_cpu": loaded_libtorch_cpu(),
              "python": sys.executable, "has_compile": hasattr(torch, "compile"),
              "describe": {str(size): {n: describe(build(n, classes, size))
                                       for n in ARCHITECTURES} for size in sizes}}
    if flops:
        result["flops"] = {str(size): {n: flops_per_image(n, classes, size)
                                       for n in ARCHITECTURES} for size in sizes}
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
    p.add_argument("--sizes", default="128", help="--info: comma-separated input sizes")
    p.add_argument("--classes", type=int, default=345)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--iterations", type=int, default=3)
    # --infer-impl: the name before compile existed (inference only then); same option.
    p.add_argument("--impl", "--infer-impl", dest="impl", choices=["eager", "jit", "compile"],
                   default="eager", help="train: eager|compile; infer: eager|jit|compile")
    p.add_argument("--compile-mode", default="default",
                   help="torch.compile mode (default, max-autotune-no-cudagraphs, ...)")
    p.add_argument("--no-freezing", action="store_true",
                   help="infer compile: without inductor's freezing")
    p.add_argument("--bf16-weights", action="store_true", help="infer eager: weights in bf16")
    p.add_argument("--malloc", choices=["glibc", "heap"], default="glibc")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="where model and inputs live; cuda synchronizes after each call")
    p.add_argument("--describe", action="store_true",
                   help="print parameter/buffer names and shapes of both nets as JSON")
    p.add_argument("--info", action="store_true",
                   help="print torch version, loaded libtorch_cpu and --describe per --sizes")
    p.add_argument("--flops", action="store_true",
                   help="--info: also count each net's FLOP per image (torch.utils.flop_counter)")
    a = p.parse_args()
    global DEVICE
    DEVICE = a.device
    if DEVICE == "cuda" and not torch.cuda.is_available():
        sys.exit("pytorch_models.py: --device cuda, but torch.cuda.is_available() is False")
    if a.describe:
        json.dump({n: describe(build(n, a.classes, a.size)) for n in ARCHITECTURES}, sys.stdout,
                  indent=1)
        print()
        return
    if a.info:
        try:
            sizes = [int(x) for x in a.sizes.split(",") if x]
        except ValueError:
            sys.exit(f"--sizes: comma-separated integers, not {a.sizes!r}")
        print(json.dumps(info(sizes, a.classes, a.flops)))
        return
    if a.mode == "train" and a.impl == "jit":
        sys.exit("--impl jit is inference only (--mode infer)")
    set_threads(a.threads)
    if a.malloc == "heap" and not keep_large_allocations_in_heap():
        sys.exit("mallopt refused")
    common = dict(batch=a.batch, size=a.size, classes=a.classes, bf16=a.precision == "bf16",
                  channels_last=a.layout == "nhwc", warmup=a.warmup, iterations=a.iterations,
                  impl=a.impl, compile_mode=a.compile_mode)
    if a.mode == "train":
        r = bench_train(a.arch, **common)
    else:
        r = bench_infer(a.arch, bf16_weights=a.bf16_weights, freezing=not a.no_freezing,
                        **common)
    r["torch"] = torch.__version__
    print(json.dumps(r))


if __name__ == "__main__":
    main()
