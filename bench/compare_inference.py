#!/usr/bin/env python3
"""Inference latency of the same architectures in Pare, PyTorch eager and onnxruntime.

Run through bench/compare-inference.sh (which builds Pare and prepares a virtual
environment); or directly with a Python that has torch, torchvision, onnx and onnxruntime:

    python3 bench/compare_inference.py --pare .build/release/pare --threads 2 --batch 1

Every engine runs the torchvision architecture in evaluation mode, fp32, with the same
thread count and batch, after warm-up; the medians of --runs timed passes are compared.
Weights are random (latency does not depend on their values).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def pare_env():
    """The environment for Pare's processes: without LD_PRELOAD, so Pare runs on glibc malloc
    even when PyTorch in this process was given tcmalloc."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    return env


def time_callable(fn, warmup, runs):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pare", default=".build/release/pare", help="path to the pare binary")
    parser.add_argument("--models", default="resnet18,mobilenet_v2")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()

    import torch
    import torchvision_compat  # noqa: F401  (see bench/torchvision_compat.py)
    import torchvision
    torch.set_num_threads(args.threads)
    try:
        import onnxruntime as ort
    except ImportError:
        ort = None

    rows = []
    for name in args.models.split(","):
        model = getattr(torchvision.models, name)(weights=None).eval()
        x = torch.randn(args.batch, 3, 224, 224)
        with torch.no_grad():
            torch_ms = time_callable(lambda: model(x), args.warmup, args.runs)
        ort_ms = None
        if ort is not None:
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, name + ".onnx")
                torch.onnx.export(model, x, path, opset_version=17, dynamo=False)
                options = ort.SessionOptions()
                options.intra_op_num_threads = args.threads
                options.inter_op_num_threads = 1
                session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
                feed = {session.get_inputs()[0].name: x.numpy()}
                ort_ms = time_callable(lambda: session.run(None, feed), args.warmup, args.runs)
        out = subprocess.run([args.pare, "bench", name, "--batch", str(args.batch), "--threads", str(args.threads),
                              "--warmup", str(args.warmup), "--runs", str(args.runs), "--json"],
                             env=pare_env(), check=True, capture_output=True, text=True).stdout
        pare = json.loads(out)
        rows.append((name, pare["medianMilliseconds"], torch_ms, ort_ms, pare["kernels"]))

    allocator = "tcmalloc" if "tcmalloc" in os.environ.get("LD_PRELOAD", "") else "glibc malloc"
    print(f"PyTorch and onnxruntime with {allocator}, Pare with glibc malloc; "
          f"batch {args.batch}, {args.threads} threads, fp32, median of {args.runs} runs after {args.warmup} warm-up; "
          f"torch {torch.__version__} ({torch.backends.mkldnn.is_available() and 'oneDNN' or 'no oneDNN'}), "
          f"onnxruntime {ort.__version__ if ort else 'absent'}")
    print(f"{'model':<14} {'Pare ms':>9} {'PyTorch ms':>11} {'ORT ms':>9} {'PyTorch/Pare':>13} {'ORT/Pare':>9}")
    for name, pare_ms, torch_ms, ort_ms, _ in rows:
        ort_text = f"{ort_ms:9.2f}" if ort_ms is not None else f"{'-':>9}"
        ratio = f"{ort_ms / pare_ms:9.2f}" if ort_ms is not None else f"{'-':>9}"
        print(f"{name:<14} {pare_ms:9.2f} {torch_ms:11.2f} {ort_text} {torch_ms / pare_ms:13.2f} {ratio}")
    for name, _, _, _, kernels in rows:
        print(f"Pare {name}: {kernels}")


if __name__ == "__main__":
    sys.exit(main())
