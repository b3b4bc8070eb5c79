#!/usr/bin/env python3
"""Int8 latency side by side: Pare fp32 and int8, onnxruntime fp32 and its own int8
(quantize_static, QDQ, per-channel, reduce_range on CPUs without VNNI), onnxruntime on Pare's
own QDQ export (with residual adds fused into the convolutions, Pare's default, and with
--separate-residual-adds), and PyTorch fp32 and torch.ao int8 (FX graph mode, fbgemm/x86), in one run.

Run through bench/compare-int8.sh (which builds Pare and prepares .venv-bench), or:

    python3 bench/compare_int8.py --pare .build/release/pare --models smallcnn,resnet18-cifar --batches 1,16

Weights are random and calibration uses random N(0, 1) images: latency does not depend on
their values (accuracy is measured by bench/int8-accuracy.sh). Every engine uses the same
threads and batch; each figure is the median of --runs timed passes after --warmup. Pare's
row also names the kernels that ran; --profile prints Pare int8's slowest steps per model.
"""
import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_inference import time_callable  # noqa: E402  (the shared timing loop)
from compare_pruning import (PareError, attempt, cpu_info, ort_latency, pare_json, ratio, run_pare,  # noqa: E402
                             torchvision_model)

MODELS = {  # name: (input shape, classes)
    "smallcnn": ((1, 28, 28), 10),
    "resnet18-cifar": ((3, 32, 32), 10),
    "resnet18": ((3, 224, 224), 1000),
    "mobilenet_v2": ((3, 224, 224), 1000),
}


def torch_model(torch, torchvision, name, classes):
    if name == "smallcnn":
        nn = torch.nn
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, classes))
    return torchvision_model(torch, torchvision, name, classes)


def torch_int8(torch, model, shape, calibration_batches=4):
    """torch.ao post-training static quantisation in FX graph mode with the x86 backend."""
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    engine = "x86" if "x86" in torch.backends.quantized.supported_engines else "fbgemm"
    torch.backends.quantized.engine = engine
    example = (torch.randn(1, *shape),)
    prepared = prepare_fx(model.eval(), get_default_qconfig_mapping(engine), example)
    with torch.inference_mode():
        for _ in range(calibration_batches):
            prepared(torch.randn(8, *shape))
    return convert_fx(prepared), engine


def ort_int8(ort_quantization, source, target, shape, reduce_range, batches=4):
    import numpy as np

    class Reader(ort_quantization.CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(0)
            self.data = iter([{"input": rng.standard_normal((8, *shape), dtype=np.float32)} for _ in range(batches)])

        def get_next(self):
            return next(self.data, None)

    ort_quantization.quantize_static(source, target, Reader(), quant_format=ort_quantization.QuantFormat.QDQ,
                                     per_channel=True, reduce_range=reduce_range,
                                     activation_type=ort_quantization.QuantType.QUInt8,
                                     weight_type=ort_quantization.QuantType.QInt8)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pare", default=".build/release/pare")
    parser.add_argument("--models", default="smallcnn,resnet18-cifar,resnet18,mobilenet_v2")
    parser.add_argument("--batches", default="1,16")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()

    import numpy as np
    import onnxruntime as ort
    from onnxruntime import quantization as ort_quantization
    import torch
    import torchvision_compat  # noqa: F401  (see bench/torchvision_compat.py)
    import torchvision
    torch.set_num_threads(args.threads)
    cpu, flags = cpu_info()
    vnni = "avx512_vnni" in flags
    print(f"CPU: {cpu}; ISA flags: {', '.join(flags)}; threads {args.threads}; "
          f"onnxruntime {ort.__version__} (reduce_range={not vnni}); torch {torch.__version__}")
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name in args.models.split(","):
            shape, classes = MODELS[name]
            base = os.path.join(work, name)
            record = {"model": name}
            attempt(record, "pare-quantize", lambda: run_pare(args.pare, "quantize", name, "--synthetic", "--calibration-batches", 4,
                                                              "--batch", 8, "--threads", args.threads, "--out", base + "-int8.safetensors"))
            attempt(record, "pare-quantize-separate", lambda: run_pare(args.pare, "quantize", name, "--synthetic", "--calibration-batches", 4,
                                                                       "--batch", 8, "--threads", args.threads, "--separate-residual-adds",
                                                                       "--out", base + "-int8-separate.safetensors"))
            fp32_summary = attempt(record, "pare-summary", lambda: pare_json(args.pare, "summary", name))
            int8_bytes = os.path.getsize(base + "-int8.safetensors") if os.path.exists(base + "-int8.safetensors") else None
            if fp32_summary and int8_bytes:
                record["fileBytes"] = {"fp32": fp32_summary["nativeFileBytes"], "int8": int8_bytes,
                                       "ratio": int8_bytes / fp32_summary["nativeFileBytes"]}
            attempt(record, "onnx-export", lambda: run_pare(args.pare, "export", name, "--onnx", base + ".onnx"))
            attempt(record, "onnx-export-int8", lambda: run_pare(args.pare, "export", base + "-int8.safetensors", "--onnx", base + "-pare-qdq.onnx"))
            attempt(record, "onnx-export-int8-separate", lambda: run_pare(args.pare, "export", base + "-int8-separate.safetensors", "--onnx",
                                                                          base + "-pare-qdq-separate.onnx"))
            attempt(record, "ort-quantize", lambda: ort_int8(ort_quantization, base + ".onnx", base + "-ort-int8.onnx", shape, not vnni))
            model = torch_model(torch, torchvision, name, classes).eval()
            quantized = attempt(record, "torch-ao", lambda: torch_int8(torch, torch_model(torch, torchvision, name, classes), shape))
            for batch in [int(b) for b in args.batches.split(",")]:
                row = dict(record, batch=batch)
                def pare(path):
                    result = pare_json(args.pare, "bench", path, "--batch", batch, "--threads", args.threads,
                                       "--warmup", args.warmup, "--runs", args.runs)
                    return result["medianMilliseconds"], result["kernels"]
                fp32 = attempt(row, "pare-fp32", lambda: pare(name))
                int8 = attempt(row, "pare-int8", lambda: pare(base + "-int8.safetensors"))
                separate = attempt(row, "pare-int8-separate", lambda: pare(base + "-int8-separate.safetensors"))
                row["pare"] = {"fp32": fp32 and fp32[0], "int8": int8 and int8[0], "int8SeparateAdds": separate and separate[0],
                               "kernels": int8 and int8[1]}
                row["ort"] = {
                    "fp32": attempt(row, "ort-fp32", lambda: ort_latency(ort, np, base + ".onnx", shape, batch, args.threads, args.warmup, args.runs)),
                    "int8": attempt(row, "ort-int8", lambda: ort_latency(ort, np, base + "-ort-int8.onnx", shape, batch, args.threads, args.warmup, args.runs)),
                    "pareQDQ": attempt(row, "ort-pare-qdq", lambda: ort_latency(ort, np, base + "-pare-qdq.onnx", shape, batch, args.threads, args.warmup, args.runs)),
                    "pareQDQSeparateAdds": attempt(row, "ort-pare-qdq-separate", lambda: ort_latency(ort, np, base + "-pare-qdq-separate.onnx", shape,
                                                                                                 batch, args.threads, args.warmup, args.runs)),
                }
                x = torch.randn(batch, *shape)
                with torch.inference_mode():
                    row["torch"] = {"fp32": attempt(row, "torch-fp32", lambda: time_callable(lambda: model(x), args.warmup, args.runs))}
                    if quantized:
                        row["torch"]["int8"] = attempt(row, "torch-int8", lambda: time_callable(lambda: quantized[0](x), args.warmup, args.runs))
                        row["torch"]["engine"] = quantized[1]
                rows.append(row)
                p, o, t = row["pare"], row["ort"], row["torch"]
                def ms(v):
                    return f"{v:8.3f}" if v is not None else "     n/a"
                speedup = ratio(p["fp32"], p["int8"])
                print(f"{name:15} b{batch:<3} Pare fp32 {ms(p['fp32'])} int8 {ms(p['int8'])} ({speedup:.2f}x) separate adds {ms(p['int8SeparateAdds'])} | "
                      f"ORT fp32 {ms(o['fp32'])} int8 {ms(o['int8'])} Pare-QDQ {ms(o['pareQDQ'])} separate adds {ms(o['pareQDQSeparateAdds'])} | "
                      f"torch fp32 {ms(t.get('fp32'))} int8 {ms(t.get('int8'))}" if speedup else f"{name} b{batch}: {row.get('errors')}",
                      flush=True)
                if row.get("errors"):
                    print(f"   errors: {row['errors']}")
            if args.profile and os.path.exists(base + "-int8.safetensors"):
                print(run_pare(args.pare, "bench", base + "-int8.safetensors", "--threads", args.threads, "--runs", 10, "--profile"))
            if record.get("fileBytes"):
                f = record["fileBytes"]
                print(f"{name:15} file fp32 {f['fp32']:,} bytes, int8 {f['int8']:,} bytes, ratio {f['ratio']:.3f}")
            if rows and rows[-1]["pare"].get("kernels"):
                print(f"{name:15} Pare int8 kernels: {rows[-1]['pare']['kernels']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    try:
        main()
    except PareError as error:
        sys.exit(str(error))
