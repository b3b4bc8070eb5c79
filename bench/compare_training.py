#!/usr/bin/env python3
"""Training speed of the same architectures in Pare and PyTorch eager, side by side.

Run through bench/compare-training.sh (which builds Pare and prepares a virtual
environment); or directly with a Python that has torch and torchvision:

    python3 bench/compare_training.py --pare .build/release/pare --threads 2 --batch 128

Fixed batch: each engine times training steps (forward in training mode, cross-entropy,
backward, SGD momentum 0.9 with weight decay 5e-4) on one batch of random images after
warm-up; the medians of --runs steps are compared. `pare bench MODEL --train` measures Pare.

Real epoch (--epoch): one epoch of Fashion-MNIST for smallcnn, with each engine's data
pipeline: PyTorch reads the same IDX files into a TensorDataset and a DataLoader (shuffle,
batch 128, normalisation applied to the whole tensor up front); Pare runs `pare train
smallcnn --data fashion-mnist --epochs 1` and its loader decodes and normalises on
background threads. Images per second of the training phase are compared, and the time
Pare's training loop spent waiting for its loader is printed (it should be ~0).

PyTorch uses whatever allocator the process has (glibc malloc unless LD_PRELOAD names
tcmalloc); the table says which.
"""
import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

MODELS = {
    # name: (input shape C,H,W, classes)
    "smallcnn": ((1, 28, 28), 10),
    "resnet18-cifar": ((3, 32, 32), 10),
}


def pare_env():
    """The environment for Pare's processes: without LD_PRELOAD, so Pare runs on glibc malloc
    even when PyTorch in this process was given tcmalloc."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    return env


def smallcnn(torch):
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, 10))


def resnet18_cifar(torch, torchvision):
    model = torchvision.models.resnet18(num_classes=10)
    model.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    model.maxpool = torch.nn.Identity()
    return model


def torch_model(name, torch, torchvision):
    return smallcnn(torch) if name == "smallcnn" else resnet18_cifar(torch, torchvision)


def torch_fixed_batch(name, torch, torchvision, batch, warmup, runs):
    (c, h, w), classes = MODELS[name]
    model = torch_model(name, torch, torchvision).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.randn(batch, c, h, w)
    y = torch.randint(0, classes, (batch,))

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        samples.append(time.perf_counter() - start)
    return batch / statistics.median(samples)


def pare_fixed_batch(pare, name, batch, threads, warmup, runs):
    out = subprocess.run([pare, "bench", name, "--train", "--batch", str(batch), "--threads", str(threads),
                          "--warmup", str(warmup), "--runs", str(runs), "--json"],
                         env=pare_env(), check=True, capture_output=True, text=True).stdout
    return json.loads(out)["imagesPerSecond"]


def read_idx(path, torch):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return torch.frombuffer(bytearray(data[4 + 4 * dims:]), dtype=torch.uint8).reshape(shape)


def torch_epoch(torch, directory, batch):
    images = read_idx(os.path.join(directory, "train-images-idx3-ubyte.gz"), torch).float().div_(255).unsqueeze(1)
    images = images.sub_(0.2860).div_(0.3530)
    labels = read_idx(os.path.join(directory, "train-labels-idx1-ubyte.gz"), torch).long()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels), batch_size=batch,
                                         shuffle=True, drop_last=True)
    model = smallcnn(torch).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    seen = 0
    start = time.perf_counter()
    for x, y in loader:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        seen += x.shape[0]
    return seen / (time.perf_counter() - start)


def pare_epoch(pare, threads, batch):
    with tempfile.TemporaryDirectory() as run:
        subprocess.run([pare, "train", "smallcnn", "--data", "fashion-mnist", "--epochs", "1", "--batch", str(batch),
                        "--threads", str(threads), "--out", run, "--json"], env=pare_env(), check=True, capture_output=True, text=True)
        with open(os.path.join(run, "summary.json")) as f:
            epoch = json.load(f)["history"][0]
            return epoch["imagesPerSecond"], epoch["dataWaitSeconds"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pare", default=".build/release/pare", help="path to the pare binary")
    parser.add_argument("--models", default="smallcnn,resnet18-cifar")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--runs", type=int, default=10, help="timed steps per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per engine; the median is reported")
    parser.add_argument("--epoch", action="store_true", help="also time one real Fashion-MNIST epoch of smallcnn")
    parser.add_argument("--fashion-mnist", default="/usr/share/datasets/fashion-mnist")
    args = parser.parse_args()

    import torch
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import torchvision_compat  # noqa: F401  (see bench/torchvision_compat.py)
    import torchvision
    torch.set_num_threads(args.threads)
    allocator = "tcmalloc" if "tcmalloc" in os.environ.get("LD_PRELOAD", "") else "glibc malloc"

    rows = []
    for name in args.models.split(","):
        if name not in MODELS:
            sys.exit(f"unknown model {name}; this script knows {', '.join(MODELS)}")
        pare = statistics.median(pare_fixed_batch(args.pare, name, args.batch, args.threads, args.warmup, args.runs)
                                 for _ in range(args.repeats))
        torch_rate = statistics.median(torch_fixed_batch(name, torch, torchvision, args.batch, args.warmup, args.runs)
                                       for _ in range(args.repeats))
        rows.append((f"{name} (fixed batch)", pare, torch_rate))
    if args.epoch:
        epochs = [pare_epoch(args.pare, args.threads, args.batch) for _ in range(args.repeats)]
        pare = statistics.median(rate for rate, _ in epochs)
        data_wait = max(wait for _, wait in epochs)
        torch_rate = statistics.median(torch_epoch(torch, args.fashion_mnist, args.batch) for _ in range(args.repeats))
        rows.append(("smallcnn (Fashion-MNIST epoch)", pare, torch_rate))

    print(f"training images/s, batch {args.batch}, {args.threads} threads, fp32, SGD momentum 0.9; "
          f"median of {args.repeats} measurements of {args.runs} steps; PyTorch {torch.__version__} with {allocator}; "
          f"Pare: oneDNN kernels; Pare's own Winograd F(4x4,3x3) for 3x3 stride-1 convolutions, max pooling "
          f"and first-layer weight gradients")
    print(f"{'workload':34} {'Pare':>10} {'PyTorch':>10} {'Pare/PyTorch':>13}")
    for label, pare, torch_rate in rows:
        print(f"{label:34} {pare:10.1f} {torch_rate:10.1f} {pare / torch_rate:12.2f}x")
    if args.epoch:
        print(f"Pare's training waited at most {data_wait:.3f} s per epoch for its loader (background threads, prefetch 4)")


if __name__ == "__main__":
    main()
