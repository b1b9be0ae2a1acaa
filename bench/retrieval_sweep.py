#!/usr/bin/env python3
"""Exploration, not the product: which retrieval objective (trainer/retrieval_loss.h) is worth a
CPU run, measured in PyTorch on a GPU in minutes instead of hours.

Trains skNet / skResNet (bench/pytorch_models.py: the product's networks layer for layer) on
strokes-16 with the `default` recipe's settings (64 px, batch 64, 16 epochs, AdamW 2e-3, weight
decay 0.05 on weights, 5 % warm-up then cosine, label smoothing 0.1, dropout 0.3, random affine
on the strokes) and cross-entropy alone or plus supcon / cosface, then reports test accuracy,
leave-one-out mAP of the L2-normalized fc_1 features on the test split, and the same mAP over
drawings of classes the model never saw (simplified-25 minus the 16).

What differs from the product, so figures here only rank objectives: the split is this
script's own seeded 450 + 50 per class (not `sketch-trainer prepare`'s), and strokes are
rasterized on the GPU by the same rule as core/rasterizer.cc's default style (fit in a size/16
margin, line width size/24, coverage clamp(w/2 + 0.5 - distance, 0, 1), max over segments)
but not by its code, with no Douglas-Peucker / resampling step.

  python3 bench/retrieval_sweep.py --data DIR [--archs sknet,skresnet] [--configs ...]
      [--jobs 4] [--epochs 16] [--out results.jsonl]

DIR holds simplified/ and simplified-25/ (../shared/data/quickdraw). Each config trains in its
own process (--jobs at once on the one GPU); one JSON line per run goes to --out and stdout.
"""
import argparse
import json
import math
import os
import random
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# name -> (objective, weight, temperature, scale, margin)
CONFIGS = {
    "ce": ("none", 0, 0, 0, 0),
    "supcon-w0.5-t0.1": ("supcon", 0.5, 0.1, 0, 0),
    "supcon-w1-t0.1": ("supcon", 1.0, 0.1, 0, 0),
    "supcon-w1-t0.2": ("supcon", 1.0, 0.2, 0, 0),
    "cosface-w0.5-s16-m0.2": ("cosface", 0.5, 0, 16.0, 0.2),
    "cosface-w1-s16-m0.2": ("cosface", 1.0, 0, 16.0, 0.2),
    "cosface-w1-s16-m0.35": ("cosface", 1.0, 0, 16.0, 0.35),
    "cosface-w1-s30-m0.35": ("cosface", 1.0, 0, 30.0, 0.35),
}


def read_ndjson(path, limit=None):
    drawings = []
    with open(path) as f:
        for line in f:
            record = json.loads(line)
            strokes = [list(zip(s[0], s[1])) for s in record["drawing"] if len(s[0]) > 0]
            if strokes:
                drawings.append(strokes)
            if limit and len(drawings) >= limit:
                break
    return drawings


def load_data(data_dir, seed=0):
    simplified = os.path.join(data_dir, "simplified")
    classes = sorted(f[:-len(".ndjson")] for f in os.listdir(simplified) if f.endswith(".ndjson"))
    rng = random.Random(seed)
    train, test = [], []
    for label, word in enumerate(classes):
        drawings = read_ndjson(os.path.join(simplified, word + ".ndjson"))
        rng.shuffle(drawings)
        train += [(d, label) for d in drawings[:450]]
        test += [(d, label) for d in drawings[450:500]]
    unseen = []
    others = os.path.join(data_dir, "simplified-25")
    words = sorted(f[:-len(".ndjson")] for f in os.listdir(others) if f.endswith(".ndjson"))
    for word in words:
        if word in classes:
            continue
        unseen += [(d, word) for d in read_ndjson(os.path.join(others, word + ".ndjson"), 25)]
    unseen_words = sorted({w for _, w in unseen})
    unseen = [(d, unseen_words.index(w)) for d, w in unseen]
    return classes, train, test, unseen


def to_segments(examples, torch, device):
    """Drawings as padded segment tensors: [N, S, 4] (x0, y0, x1, y1), a mask, and labels."""
    segs = []
    for strokes, _ in examples:
        s = []
        for stroke in strokes:
            if len(stroke) == 1:
                s.append((*stroke[0], *stroke[0]))
            for a, b in zip(stroke, stroke[1:]):
                s.append((*a, *b))
        segs.append(s)
    longest = max(len(s) for s in segs)
    data = torch.zeros(len(segs), longest, 4)
    mask = torch.zeros(len(segs), longest, dtype=torch.bool)
    for i, s in enumerate(segs):
        data[i, :len(s)] = torch.tensor(s, dtype=torch.float32)
        mask[i, :len(s)] = True
    labels = torch.tensor([label for _, label in examples])
    return data.to(device), mask.to(device), labels.to(device)


def rasterize(torch, segs, mask, size, augment, generator=None, budget=1 << 24):
    """[B, S, 4] segments -> [B, 1, size, size] coverage in [0, 1] (default raster style), in
    chunks of at most `budget` pixel-segment pairs (the distance tensors are [B, P, S])."""
    longest = int(mask.sum(1).max().item())
    segs, mask = segs[:, :longest], mask[:, :longest]
    chunk = max(1, budget // (size * size * longest))
    if segs.shape[0] > chunk:
        return torch.cat([rasterize(torch, segs[i:i + chunk], mask[i:i + chunk], size, augment,
                                    generator, budget) for i in range(0, segs.shape[0], chunk)])
    b = segs.shape[0]
    p0, p1 = segs[..., 0:2], segs[..., 2:4]
    if augment:
        dev = segs.device
        u = lambda lo, hi: lo + (hi - lo) * torch.rand(b, device=dev, generator=generator)
        angle = u(-12.0, 12.0) * math.pi / 180
        sx, sy, shear = u(0.85, 1.15), u(0.85, 1.15), u(-0.15, 0.15)
        cos, sin = torch.cos(angle), torch.sin(angle)
        # rotation * shear * scale, as trainer/augment.cc composes it
        a = torch.stack([torch.stack([sx * cos, sy * (cos * shear - sin)], -1),
                         torch.stack([sx * sin, sy * (sin * shear + cos)], -1)], -2)  # [B, 2, 2]
        p0 = torch.einsum("bij,bsj->bsi", a, p0)
        p1 = torch.einsum("bij,bsj->bsi", a, p1)
    big = torch.finfo(torch.float32).max
    pts = torch.cat([p0, p1], 1)
    m2 = torch.cat([mask, mask], 1).unsqueeze(-1)
    lo = torch.where(m2, pts, torch.full_like(pts, big)).amin(1)  # [B, 2]
    hi = torch.where(m2, pts, torch.full_like(pts, -big)).amax(1)
    margin, width = size / 16, size / 24
    extent = (hi - lo).amax(1).clamp_min(1e-6)  # [B]
    scale = (size - 2 * margin) / extent
    centre = (lo + hi) / 2
    fit = lambda p: (p - centre[:, None]) * scale[:, None, None] + size / 2
    q0, q1 = fit(p0), fit(p1)
    ys, xs = torch.meshgrid(torch.arange(size, device=segs.device) + 0.5,
                            torch.arange(size, device=segs.device) + 0.5, indexing="ij")
    pix = torch.stack([xs, ys], -1).view(1, -1, 1, 2)  # [1, P, 1, 2]
    d = (q1 - q0)[:, None]  # [B, 1, S, 2]
    t = ((pix - q0[:, None]) * d).sum(-1) / (d * d).sum(-1).clamp_min(1e-12)
    closest = q0[:, None] + t.clamp(0, 1)[..., None] * d
    dist = (pix - closest).norm(dim=-1)  # [B, P, S]
    cover = (width / 2 + 0.5 - dist).clamp(0, 1).masked_fill(~mask[:, None], 0).amax(-1)
    return cover.view(b, 1, size, size)


def loo_map(torch, features, labels):
    """Leave-one-out mAP of L2-normalized features (squared L2 ranking = cosine ranking)."""
    z = torch.nn.functional.normalize(features.float(), dim=1)
    sim = z @ z.t()
    n = sim.shape[0]
    sim.fill_diagonal_(-float("inf"))
    order = sim.argsort(1, descending=True)[:, :n - 1]
    rel = (labels[order] == labels[:, None]).float()
    hits = rel.cumsum(1)
    ranks = torch.arange(1, n, device=sim.device).float()
    ap = (hits / ranks * rel).sum(1) / rel.sum(1).clamp_min(1)
    return ap[rel.sum(1) > 0].mean().item()


def train_one(args, config_name, arch):
    import torch
    import torch.nn.functional as F
    import pytorch_models as pm
    objective, weight, temperature, scale, margin = CONFIGS[config_name]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(args.seed)
    classes, train, test, unseen = load_data(args.data)
    tr, te, un = (to_segments(x, torch, device) for x in (train, test, unseen))
    model = pm.build(arch, len(classes), args.size, 0.3).to(device)
    proxies = None
    params = [{"params": [p for p in model.parameters() if p.dim() > 1], "weight_decay": 0.05},
              {"params": [p for p in model.parameters() if p.dim() <= 1], "weight_decay": 0.0}]
    if objective == "cosface":
        proxies = torch.nn.Parameter(torch.randn(len(classes), 1024, device=device) / 32)
        params.append({"params": [proxies], "weight_decay": 0.0})
    opt = torch.optim.AdamW(params, lr=args.lr)
    n = tr[0].shape[0]
    steps_per_epoch = math.ceil(n / args.batch)
    total = steps_per_epoch * args.epochs
    warmup = int(0.05 * total)
    gen = torch.Generator(device=device)
    gen.manual_seed(args.seed)
    start = time.time()
    step = 0
    for epoch in range(args.epochs):
        perm = torch.randperm(n, device=device, generator=gen)
        for i in range(steps_per_epoch):
            idx = perm[i * args.batch:(i + 1) * args.batch]
            lr = args.lr * (step + 1) / warmup if step < warmup else \
                args.lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
            for g in opt.param_groups:
                g["lr"] = lr
            images = rasterize(torch, tr[0][idx], tr[1][idx], args.size, True, gen)
            labels = tr[2][idx]
            with torch.autocast(device, dtype=torch.bfloat16):
                logits, features = model(images)
            loss = F.cross_entropy(logits.float(), labels, label_smoothing=0.1)
            f = features.float()
            if objective == "supcon":
                z = F.normalize(f, dim=1)
                eye = torch.eye(len(idx), dtype=torch.bool, device=device)
                logit = (z @ z.t() / temperature).masked_fill(eye, -float("inf"))
                logp = logit - logit.logsumexp(1, keepdim=True)
                pos = (labels[:, None] == labels[None]) & ~eye
                npos = pos.sum(1)
                per = -torch.where(pos, logp, torch.zeros_like(logp)).sum(1) / npos.clamp_min(1)
                loss = loss + weight * per[npos > 0].mean()
            elif objective == "cosface":
                cosine = F.normalize(f, dim=1) @ F.normalize(proxies, dim=1).t()
                onehot = F.one_hot(labels, len(classes)).float()
                loss = loss + weight * F.cross_entropy(scale * (cosine - margin * onehot), labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if args.max_steps and step >= args.max_steps:
                break
        if args.max_steps and step >= args.max_steps:
            break
    train_s = time.time() - start
    model.eval()

    @torch.no_grad()
    def embed(segs, mask):
        out_logits, out_features = [], []
        for i in range(0, segs.shape[0], 512):
            images = rasterize(torch, segs[i:i + 512], mask[i:i + 512], args.size, False)
            logits, features = model(images)
            out_logits.append(logits.float())
            out_features.append(features.float())
        return torch.cat(out_logits), torch.cat(out_features)

    test_logits, test_features = embed(te[0], te[1])
    _, unseen_features = embed(un[0], un[1])
    return {
        "arch": arch, "config": config_name, "objective": objective, "weight": weight,
        "temperature": temperature, "scale": scale, "margin": margin, "epochs": args.epochs,
        "steps": total, "train_s": round(train_s, 1), "device": device,
        "gpu": torch.cuda.get_device_name() if device == "cuda" else "",
        "torch": torch.__version__,
        "test_accuracy": (test_logits.argmax(1) == te[2]).float().mean().item(),
        "test_map_l2": loo_map(torch, test_features, te[2]),
        "unseen_map_l2": loo_map(torch, unseen_features, un[2]),
        "test_n": int(te[2].shape[0]), "unseen_n": int(un[2].shape[0]),
        "unseen_classes": int(un[2].max().item()) + 1,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--archs", default="sknet,skresnet")
    p.add_argument("--configs", default=",".join(CONFIGS))
    p.add_argument("--jobs", type=int, default=4)
    p.add_argument("--epochs", type=int, default=16)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="")
    p.add_argument("--max-steps", type=int, default=0, help="stop early (smoke tests)")
    p.add_argument("--one", default="", help=argparse.SUPPRESS)  # "arch:config", in a child
    args = p.parse_args()
    if args.one:
        arch, config = args.one.split(":")
        print(json.dumps(train_one(args, config, arch)), flush=True)
        return
    runs = [(a, c) for c in args.configs.split(",") for a in args.archs.split(",")]
    for _, c in runs:
        if c not in CONFIGS:
            sys.exit(f"unknown config {c}; known: {', '.join(CONFIGS)}")
    common = [a for a in sys.argv[1:] if not a.startswith("--one")]
    pending, running = list(runs), []
    out = open(args.out, "a") if args.out else None
    while pending or running:
        while pending and len(running) < args.jobs:
            arch, config = pending.pop(0)
            cmd = [sys.executable, os.path.abspath(__file__), *common, "--one", f"{arch}:{config}"]
            running.append(((arch, config), subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)))
        time.sleep(0.5)
        for item in list(running):
            (arch, config), proc = item
            if proc.poll() is None:
                continue
            running.remove(item)
            text = proc.stdout.read().strip().splitlines()
            line = text[-1] if text and proc.returncode == 0 else json.dumps(
                {"arch": arch, "config": config, "error": f"exit {proc.returncode}"})
            print(line, flush=True)
            if out:
                out.write(line + "\n")
                out.flush()


if __name__ == "__main__":
    main()
