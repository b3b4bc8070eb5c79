#!/usr/bin/env python3
"""Speed-up of structured pruning: Pare's `pare prune` vs Torch-Pruning, on the same weights.

Run through bench/compare-pruning.sh (which builds Pare and prepares a virtual environment
with torch-pruning); or directly with a Python that has torch, torchvision, onnxruntime and
torch-pruning 1.6.x:

    python3 bench/compare_pruning.py --pare .build/release/pare --runs 30
    python3 bench/compare_pruning.py --pare .build/release/pare --models resnet18-cifar --runs 3

Every row prunes one model at ratio 0.5 with the L1 magnitude criterion, channels rounded
to multiples of 8, the classifier (`fc`, the last linear) left whole, once with a uniform
scope (every group loses the same fraction) and once with a global one (groups ranked
together). Three engines measure the model before and after:

- Pare: `pare prune MODEL --criterion l1 --ratio 0.5 --scope S --round-to 8 --out DIR`,
  then `pare summary` (parameters, conv+linear MACs) and `pare bench` (latency) of the zoo
  model and of DIR/pruned.safetensors.
- PyTorch eager with Torch-Pruning: Pare's seeded zoo weights (`pare export MODEL
  --safetensors-state-dict`) loaded into the torchvision model, pruned by
  tp.pruner.MetaPruner with tp.importance.MagnitudeImportance(p=1), pruning_ratio 0.5,
  global_pruning for the global scope, round_to 8, the final Linear ignored.
- onnxruntime: Pare's original and pruned models exported with `pare export --onnx`
  (symbolic batch dimension), CPU execution provider.

Torch-Pruning keeps its other defaults (MagnitudeImportance's group_reduction="mean" and
normalizer="mean"; Pare's l1 sums |w| over a group's members), so the two may choose different
channels, and under the global scope different widths: each side's MAC ratio is printed, and
each side's speed-up is judged against its own.

Each engine runs in evaluation mode, fp32, with --threads threads and the row's batch; after
--warmup untimed passes the median of --runs timed passes is taken. The unpruned model is
timed once per model and batch and serves both scopes. The speed-up is latency
before / latency after; the MAC ratio is MACs before / MACs after (conv and linear layers
only, fvcore's rule, on both sides). "Pare speed-up / MAC ratio" says how much of the
arithmetic saved turns into time saved (1.0: all of it). Before pruning, the ONNX model
Pare exported and the torchvision model with Pare's weights are run on one input and their
largest output difference is printed: the two sides start from the same network.

PyTorch and onnxruntime run in this process with whatever allocator it has (tcmalloc when
bench/setup.sh found it); Pare's processes always run without LD_PRELOAD.

A step that fails (a `pare prune` that errs, an export, a load) leaves its figures out: the
row prints FAILED with the error, the other engines and rows go on, and the exit status is 1.
--json FILE writes every figure (and the errors); --models and --scopes pick rows, --runs and
--warmup set the passes, for a quick run such as `--models resnet18-cifar --runs 3`.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

from compare_inference import pare_env, time_callable  # the inference comparison's environment and timing loop

# (model, input C,H,W, classes, batch): the rows, each run for every scope.
ROWS = [
    ("resnet18", (3, 224, 224), 1000, 1),
    ("resnet18", (3, 224, 224), 1000, 16),
    ("resnet18-cifar", (3, 32, 32), 10, 64),
    ("mobilenet_v2", (3, 224, 224), 1000, 1),
]
SCOPES = ("uniform", "global")
RATIO = 0.5
ROUND_TO = 8
GOOD_FRACTION = 0.9  # "Pare speed-up / MAC ratio" at or above this counts as turning MACs into time


class PareError(RuntimeError):
    pass


def run_pare(pare, *arguments, timeout=1800):
    """Runs pare with `arguments`; returns its stdout, or raises PareError with the command and
    its error output."""
    command = [pare, *map(str, arguments)]
    try:
        done = subprocess.run(command, env=pare_env(), capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise PareError(f"{' '.join(command)}: {error}") from None
    if done.returncode != 0:
        message = (done.stderr.strip() or done.stdout.strip() or "(no output)")
        raise PareError(f"{' '.join(command)} exited {done.returncode}: {message}")
    return done.stdout


def pare_json(pare, *arguments):
    out = run_pare(pare, *arguments, "--json")
    try:
        return json.loads(out)
    except json.JSONDecodeError as error:
        raise PareError(f"pare {' '.join(map(str, arguments))} --json printed no JSON ({error}): {out[:500]}") from None


def cpu_info():
    """The CPU's model name and the vector extensions the kernels can use."""
    name, flags = None, set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and name is None:
                    name = value.strip()
                elif key == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    wanted = ["avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "amx_tile"]
    return name or platform.processor() or "unknown", [f for f in wanted if f in flags]


def load_safetensors(torch, path):
    """A safetensors file as a dict of tensors (the format: 8-byte little-endian header size,
    a JSON header of dtype, shape and byte offsets, then the data)."""
    dtypes = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16,
              "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
              "BOOL": torch.bool}
    with open(path, "rb") as f:
        data = f.read()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])
    base = 8 + size
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dtype = dtypes[info["dtype"]]
        if end > begin:
            tensor = torch.frombuffer(bytearray(data[base + begin:base + end]), dtype=dtype)
        else:
            tensor = torch.empty(0, dtype=dtype)
        tensors[name] = tensor.reshape(info["shape"]).clone()
    return tensors


def torchvision_model(torch, torchvision, name, classes):
    if name == "resnet18":
        return torchvision.models.resnet18(weights=None, num_classes=classes)
    if name == "mobilenet_v2":
        return torchvision.models.mobilenet_v2(weights=None, num_classes=classes)
    if name == "resnet18-cifar":
        # Pare's resnet18-cifar: torchvision's ResNet-18 with a 3x3 stride-1 stem and no max pool.
        model = torchvision.models.resnet18(weights=None, num_classes=classes)
        model.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        model.maxpool = torch.nn.Identity()
        return model
    raise ValueError(f"no torchvision counterpart for {name}")


def last_linear(torch, model):
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    return linears[-1]


def conv_linear_macs(torch, model, shape):
    """MACs of one sample in conv and linear layers, by fvcore's rule (Pare's `summary` rule):
    conv Cout*Hout*Wout*(Cin/groups)*kh*kw, linear in*out."""
    total = [0]

    def conv_hook(module, inputs, output):
        kh, kw = module.kernel_size
        total[0] += output[0].numel() * (module.in_channels // module.groups) * kh * kw

    def linear_hook(module, inputs, output):
        total[0] += module.in_features * module.out_features * (output[0].numel() // module.out_features)

    handles = []
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, torch.nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    try:
        with torch.inference_mode():
            model(torch.zeros(1, *shape))
    finally:
        for handle in handles:
            handle.remove()
    return total[0]


def torch_counts(torch, tp, model, shape):
    params = sum(p.numel() for p in model.parameters())
    macs = conv_linear_macs(torch, model, shape)
    tp_macs, tp_params = tp.utils.count_ops_and_params(model, torch.zeros(1, *shape))
    return {"parameters": int(params), "macs": int(macs), "tpMacs": int(tp_macs), "tpParameters": int(tp_params)}


def torch_latency(torch, model, shape, batch, warmup, runs):
    x = torch.randn(batch, *shape)
    with torch.inference_mode():
        return time_callable(lambda: model(x), warmup, runs)


def ort_session(ort, path, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def ort_latency(ort, np, path, shape, batch, threads, warmup, runs):
    session = ort_session(ort, path, threads)
    x = np.random.default_rng(0).standard_normal((batch, *shape), dtype=np.float32)
    feed = {session.get_inputs()[0].name: x}
    return time_callable(lambda: session.run(None, feed), warmup, runs)


def pare_counts(summary):
    return {"parameters": int(summary["trainableParameters"]), "totalParameters": int(summary["totalParameters"]),
            "macs": int(summary["operations"]["macs"])}


def pare_latency(pare, model, batch, args, *extra):
    result = pare_json(pare, "bench", model, "--batch", batch, "--threads", args.threads,
                       "--warmup", args.warmup, "--runs", args.runs, *extra)
    return result["medianMilliseconds"], result.get("kernels", "")


def attempt(record, key, fn):
    """Runs fn(); on failure stores its error under record["errors"][key] and returns None."""
    try:
        return fn()
    except Exception as error:  # noqa: BLE001  (a failed side is reported, the others go on)
        text = str(error).strip() or type(error).__name__
        record.setdefault("errors", {})[key] = text
        return None


def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def measure_row(row, scopes, args, libs, work):
    torch, torchvision, tp, ort, np = libs["torch"], libs["torchvision"], libs["tp"], libs["ort"], libs["np"]
    name, shape, classes, batch = row
    shape_text = "x".join(map(str, shape))
    pare = args.pare
    prefix = os.path.join(work, f"{name}-b{batch}")
    base = {"model": name, "input": shape_text, "classes": classes, "batch": batch}
    shared = dict(base)
    print(f"measuring {name} {shape_text} batch {batch} before pruning ...", file=sys.stderr, flush=True)

    # Pare before: the seeded zoo model.
    summary = attempt(shared, "pareSummaryBefore", lambda: pare_json(
        pare, "summary", name, "--input", shape_text, "--classes", classes))
    pare_before = pare_counts(summary) if summary else None
    bench = attempt(shared, "pareBenchBefore", lambda: pare_latency(
        pare, name, batch, args, "--input", shape_text, "--classes", classes))
    pare_ms_before, kernels_before = bench if bench else (None, None)

    # The same weights for Torch-Pruning, and Pare's ONNX of the unpruned model for onnxruntime.
    weights = prefix + "-state.safetensors"
    onnx_before = prefix + "-before.onnx"
    exported = attempt(shared, "pareExport", lambda: run_pare(
        pare, "export", name, "--input", shape_text, "--classes", classes,
        "--safetensors-state-dict", weights, "--onnx", onnx_before))

    def load_torch():
        model = torchvision_model(torch, torchvision, name, classes)
        model.load_state_dict(load_safetensors(torch, weights), strict=True)
        return model.eval()

    torch_model = attempt(shared, "torchLoad", load_torch) if exported is not None else None
    torch_before = torch_ms_before = None
    if torch_model is not None:
        torch_before = attempt(shared, "torchCountBefore", lambda: torch_counts(torch, tp, torch_model, shape))
        torch_ms_before = attempt(shared, "torchBenchBefore", lambda: torch_latency(
            torch, torch_model, shape, batch, args.warmup, args.runs))
    ort_ms_before = None
    if exported is not None and ort is not None:
        ort_ms_before = attempt(shared, "ortBenchBefore", lambda: ort_latency(
            ort, np, onnx_before, shape, batch, args.threads, args.warmup, args.runs))

    # Same starting network: Pare's ONNX (onnxruntime) and torchvision with Pare's weights.
    def agreement():
        x = np.random.default_rng(1).standard_normal((2, *shape), dtype=np.float32)
        session = ort_session(ort, onnx_before, args.threads)
        ort_out = session.run(None, {session.get_inputs()[0].name: x})[0]
        with torch.inference_mode():
            torch_out = torch_model(torch.from_numpy(x)).numpy()
        difference = float(np.abs(ort_out - torch_out).max())
        return {"maxAbs": difference, "maxRelative": difference / max(float(np.abs(torch_out).max()), 1e-30)}

    max_diff = None
    if torch_model is not None and ort is not None:
        max_diff = attempt(shared, "agreement", agreement)

    results = []
    for scope in scopes:
        record = dict(base, scope=scope, ratio=RATIO, criterion="l1", roundTo=ROUND_TO,
                      startDifference=max_diff, errors=dict(shared.get("errors", {})))
        print(f"  {name} batch {batch} scope {scope} ...", file=sys.stderr, flush=True)

        # Pare after.
        out_dir = f"{prefix}-{scope}"
        os.makedirs(out_dir, exist_ok=True)
        pruned = os.path.join(out_dir, "pruned.safetensors")

        def prune():
            out = run_pare(pare, "prune", name, "--criterion", "l1", "--ratio", RATIO, "--scope", scope,
                           "--round-to", ROUND_TO, "--out", out_dir, "--json")
            if not os.path.exists(pruned):
                raise PareError(f"pare prune succeeded but wrote no {pruned}")
            try:
                return json.loads(out)
            except json.JSONDecodeError:
                return out.strip()

        prune_report = attempt(record, "parePrune", prune)
        pare_after = pare_ms_after = kernels_after = onnx_after = None
        if prune_report is not None:
            record["parePruneReport"] = prune_report
            plan_path = os.path.join(out_dir, "plan.json")
            if os.path.exists(plan_path):
                with open(plan_path) as f:
                    plan = json.load(f)
                record["parePlanRemovedUnits"] = sum(len(e.get("removed", [])) for e in plan.get("entries", []))
            summary = attempt(record, "pareSummaryAfter", lambda: pare_json(pare, "summary", pruned))
            pare_after = pare_counts(summary) if summary else None
            bench = attempt(record, "pareBenchAfter", lambda: pare_latency(pare, pruned, batch, args))
            pare_ms_after, kernels_after = bench if bench else (None, None)
            onnx_after = os.path.join(out_dir, "pruned.onnx")
            if attempt(record, "pareExportAfter", lambda: run_pare(
                    pare, "export", pruned, "--onnx", onnx_after)) is None:
                onnx_after = None

        # Torch-Pruning after, on a fresh copy of the same weights.
        torch_after = torch_ms_after = None
        if torch_model is not None:
            def tp_prune():
                model = load_torch()
                example = torch.zeros(1, *shape)
                pruner = tp.pruner.MetaPruner(
                    model, example,
                    importance=tp.importance.MagnitudeImportance(p=1),
                    pruning_ratio=RATIO,
                    global_pruning=(scope == "global"),
                    round_to=ROUND_TO,
                    ignored_layers=[last_linear(torch, model)],
                )
                pruner.step()
                model.eval()
                with torch.inference_mode():
                    out = model(example)
                if tuple(out.shape) != (1, classes):
                    raise RuntimeError(f"the pruned model's output is {tuple(out.shape)}, not (1, {classes})")
                return model

            tp_model = attempt(record, "torchPrune", tp_prune)
            if tp_model is not None:
                torch_after = attempt(record, "torchCountAfter", lambda: torch_counts(torch, tp, tp_model, shape))
                torch_ms_after = attempt(record, "torchBenchAfter", lambda: torch_latency(
                    torch, tp_model, shape, batch, args.warmup, args.runs))
                record["torchChannels"] = {n: m.out_channels for n, m in tp_model.named_modules()
                                           if isinstance(m, torch.nn.Conv2d)}

        ort_ms_after = None
        if onnx_after is not None and ort is not None:
            ort_ms_after = attempt(record, "ortBenchAfter", lambda: ort_latency(
                ort, np, onnx_after, shape, batch, args.threads, args.warmup, args.runs))

        def engine(counts_before, counts_after, ms_before, ms_after):
            mac_ratio = ratio(counts_before and counts_before["macs"], counts_after and counts_after["macs"])
            speedup = ratio(ms_before, ms_after)
            return {"before": counts_before, "after": counts_after, "macRatio": mac_ratio,
                    "parameterRatio": ratio(counts_before and counts_before["parameters"],
                                            counts_after and counts_after["parameters"]),
                    "msBefore": ms_before, "msAfter": ms_after, "speedup": speedup,
                    "speedupPerMacRatio": ratio(speedup, mac_ratio)}

        record["pare"] = engine(pare_before, pare_after, pare_ms_before, pare_ms_after)
        record["pare"]["kernelsBefore"] = kernels_before
        record["pare"]["kernelsAfter"] = kernels_after
        record["torch"] = engine(torch_before, torch_after, torch_ms_before, torch_ms_after)
        # onnxruntime runs Pare's models: Pare's counts.
        record["onnxruntime"] = engine(pare_before, pare_after, ort_ms_before, ort_ms_after)
        fraction = record["pare"]["speedupPerMacRatio"]
        record["pareTurnsMacsIntoTime"] = None if fraction is None else fraction >= GOOD_FRACTION
        p, t = record["pare"]["speedup"], record["torch"]["speedup"]
        record["pareBeatsTorch"] = None if p is None or t is None else p > t
        o = record["onnxruntime"]["speedup"]
        record["pareBeatsOnnxruntime"] = None if p is None or o is None else p > o
        if not record["errors"]:
            del record["errors"]
        results.append(record)
    return results


def fmt_count(value):
    if value is None:
        return "-"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.2f}{unit}"
    return str(value)


def fmt(value, spec, suffix=""):
    return "-" if value is None else f"{value:{spec}}{suffix}"


def print_row(record):
    print(f"\n== {record['model']} {record['input']}, batch {record['batch']}, scope {record['scope']} "
          f"(ratio {record['ratio']}, L1, round-to {record['roundTo']}, last linear kept)")
    print(f"   {'engine':<13} {'params before->after':>22} {'MACs before->after':>22} {'MAC ratio':>9} "
          f"{'ms before->after':>20} {'speed-up':>8} {'speed-up/MAC ratio':>18}")
    names = (("pare", "Pare"), ("torch", "PyTorch (TP)"), ("onnxruntime", "onnxruntime"))
    for key, label in names:
        e = record[key]
        b, a = e["before"] or {}, e["after"] or {}
        params = f"{fmt_count(b.get('parameters'))}->{fmt_count(a.get('parameters'))}"
        macs = f"{fmt_count(b.get('macs'))}->{fmt_count(a.get('macs'))}"
        if key == "onnxruntime":
            params, macs = "(Pare's models)", ""
        ms = f"{fmt(e['msBefore'], '.2f')}->{fmt(e['msAfter'], '.2f')}"
        print(f"   {label:<13} {params:>22} {macs:>22} {fmt(e['macRatio'], '.2f', 'x'):>9} {ms:>20} "
              f"{fmt(e['speedup'], '.2f', 'x'):>8} {fmt(e['speedupPerMacRatio'], '.2f'):>18}")
    fraction = record["pare"]["speedupPerMacRatio"]
    if fraction is not None:
        verdict = "at or above" if fraction >= GOOD_FRACTION else "below"
        print(f"   Pare speed-up / MAC ratio {fraction:.2f}: {verdict} {GOOD_FRACTION}")
    p, t, o = record["pare"]["speedup"], record["torch"]["speedup"], record["onnxruntime"]["speedup"]
    if p is not None and t is not None:
        print(f"   Pare's speed-up {p:.2f}x vs PyTorch+Torch-Pruning's {t:.2f}x: "
              f"{'Pare' if p > t else 'PyTorch'}'s is larger "
              f"(MAC ratios {fmt(record['pare']['macRatio'], '.2f')}x vs {fmt(record['torch']['macRatio'], '.2f')}x)")
    if p is not None and o is not None:
        print(f"   Pare's speed-up {p:.2f}x vs onnxruntime's on the same models {o:.2f}x")
    for key, text in record.get("errors", {}).items():
        first = text if len(text) <= 600 else text[:600] + " ..."
        print(f"   FAILED {key}: " + first.replace("\n", "\n      "))


def print_summary(records):
    print("\nSummary (latency in ms, before->after = speed-up; MAC ratio = MACs before / after)")
    header = (f"{'model':<15} {'batch':>5} {'scope':<7} {'Pare params':>17} {'Pare MACs':>17} {'MACx':>6} "
              f"{'TP MACx':>7} {'Pare':>23} {'PyTorch (TP)':>23} {'onnxruntime':>23} {'Pare/MACx':>9} "
              f"{'>=0.9':>5} {'Pare>TP':>7}")
    print(header)

    def lat(e):
        if e["msBefore"] is None and e["msAfter"] is None:
            return "-"
        text = f"{fmt(e['msBefore'], '.1f')}->{fmt(e['msAfter'], '.1f')}"
        return text if e["speedup"] is None else f"{text}={e['speedup']:.2f}x"

    def yes_no(value):
        return "-" if value is None else ("yes" if value else "no")

    for r in records:
        pb, pa = r["pare"]["before"] or {}, r["pare"]["after"] or {}
        print(f"{r['model']:<15} {r['batch']:>5} {r['scope']:<7} "
              f"{fmt_count(pb.get('parameters')) + '->' + fmt_count(pa.get('parameters')):>17} "
              f"{fmt_count(pb.get('macs')) + '->' + fmt_count(pa.get('macs')):>17} "
              f"{fmt(r['pare']['macRatio'], '.2f'):>6} {fmt(r['torch']['macRatio'], '.2f'):>7} "
              f"{lat(r['pare']):>23} {lat(r['torch']):>23} {lat(r['onnxruntime']):>23} "
              f"{fmt(r['pare']['speedupPerMacRatio'], '.2f'):>9} {yes_no(r['pareTurnsMacsIntoTime']):>5} "
              f"{yes_no(r['pareBeatsTorch']):>7}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pare", default=".build/release/pare", help="path to the pare binary")
    parser.add_argument("--models", default=",".join(dict.fromkeys(r[0] for r in ROWS)),
                        help="comma-separated models of the rows to run (default: all; resnet18 has a batch-1 and a batch-16 row)")
    parser.add_argument("--scopes", default=",".join(SCOPES), help="comma-separated scopes (default: uniform,global)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json", metavar="FILE", help="also write every figure to FILE as JSON")
    parser.add_argument("--keep", metavar="DIR", help="keep the exported and pruned models in DIR")
    args = parser.parse_args()

    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in {r[0] for r in ROWS}]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; the rows are of {', '.join(dict.fromkeys(r[0] for r in ROWS))}")
    scopes = [s for s in args.scopes.split(",") if s]
    if any(s not in SCOPES for s in scopes):
        parser.error(f"--scopes takes {', '.join(SCOPES)}")

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.dont_write_bytecode = True  # no bench/__pycache__ in the work tree
    import numpy as np
    import torch
    import torchvision_compat  # noqa: F401  (see bench/torchvision_compat.py)
    import torchvision
    import torch_pruning as tp
    try:
        import importlib.metadata
        tp_version = importlib.metadata.version("torch-pruning")
    except Exception:  # noqa: BLE001
        tp_version = tp.__version__
    torch.set_num_threads(args.threads)
    try:
        import onnxruntime as ort
    except ImportError:
        ort = None
    libs = {"torch": torch, "torchvision": torchvision, "tp": tp, "ort": ort, "np": np}

    records = []
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or tmp
        os.makedirs(work, exist_ok=True)
        for row in ROWS:
            if row[0] in models:
                records.extend(measure_row(row, scopes, args, libs, work))

    cpu, isa = cpu_info()
    allocator = "tcmalloc" if "tcmalloc" in os.environ.get("LD_PRELOAD", "") else "glibc malloc"
    kernels = sorted({k for r in records for k in (r["pare"]["kernelsBefore"], r["pare"]["kernelsAfter"]) if k})
    print(f"\nCPU: {cpu}; ISA: {' '.join(isa) or 'none found'}; {args.threads} threads; fp32; "
          f"median of {args.runs} runs after {args.warmup} warm-up")
    print(f"PyTorch {torch.__version__} ({'oneDNN' if torch.backends.mkldnn.is_available() else 'no oneDNN'}), "
          f"Torch-Pruning {tp_version}, onnxruntime {ort.__version__ if ort else 'absent'}: {allocator}; "
          f"Pare: glibc malloc")
    print(f"Torch-Pruning: tp.pruner.MetaPruner(importance=tp.importance.MagnitudeImportance(p=1), "
          f"pruning_ratio={RATIO}, global_pruning=<scope is global>, round_to={ROUND_TO}, "
          f"ignored_layers=[last Linear]); MACs on both sides: conv+linear (fvcore)")
    for r in records:
        d = r.get("startDifference")
        if d is not None and r["scope"] == scopes[0]:
            print(f"Same start: {r['model']} batch {r['batch']}: Pare's ONNX (onnxruntime) vs torchvision with "
                  f"Pare's weights, largest output difference {d['maxAbs']:.2e} ({d['maxRelative']:.1e} of the "
                  f"largest output)")
    for record in records:
        print_row(record)
    print_summary(records)
    for k in kernels:
        print(f"Pare kernels: {k}")

    if args.json:
        document = {"cpu": cpu, "isa": isa, "threads": args.threads, "warmup": args.warmup, "runs": args.runs,
                    "allocator": {"torchAndOnnxruntime": allocator, "pare": "glibc malloc"},
                    "versions": {"torch": torch.__version__, "torchPruning": tp_version,
                                 "onnxruntime": ort.__version__ if ort else None},
                    "macRule": "conv and linear layers only (fvcore): Pare's summary operations.macs; "
                               "torch side by forward hooks; tpMacs is tp.utils.count_ops_and_params",
                    "rows": records}
        with open(args.json, "w") as f:
            json.dump(document, f, indent=2)
        print(f"wrote {args.json}")
    failed = [f"{r['model']} batch {r['batch']} {r['scope']}" for r in records if r.get("errors")]
    if failed:
        print(f"rows with a failed step (see FAILED above): {'; '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
