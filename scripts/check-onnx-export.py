#!/usr/bin/env python3
"""Checks ONNX files exported by Pare against Pare's own outputs, with onnxruntime.

Usage: check-onnx-export.py DIR [NAME ...]

DIR holds, for each model NAME (all of them, or the NAMEs given):
  NAME.onnx                  the export (`pare export` / ONNXExport);
  NAME.input.safetensors     the tensor `input`, batch first;
  NAME.expected.safetensors  Pare's outputs for it in evaluation mode: `output`, or
                             `output_0`, `output_1`, ... for several.
Instead of (or besides) that pair, one pair per batch size K: NAME.batchK.input.safetensors
and NAME.batchK.expected.safetensors; the same session then runs every batch size, which an
export with a symbolic batch dimension must accept.
For each model: onnx.checker.check_model (full check, with shape inference), then
onnxruntime on each input; each output must have Pare's shape and match with
max |onnxruntime - pare| < 1e-4 * max |pare|. Prints one line per model and exits 1 if any
model fails. Needs numpy, onnx and onnxruntime (no torch, no safetensors package).
"""
import json
import struct
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

RELATIVE_TOLERANCE = 1e-4
DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "I8": np.int8, "U8": np.uint8}


def read_safetensors(path):
    """{name: numpy array} of a safetensors file (the format is an 8-byte little-endian
    header length, a JSON header, then the data)."""
    data = Path(path).read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    body = data[8 + length :]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dtype = DTYPES[info["dtype"]]
        tensors[name] = np.frombuffer(body[begin:end], dtype=dtype).reshape(info["shape"])
    return tensors


def cases(directory, name):
    """[(label, input path, expected path)] of a model: the plain pair, then one per batch."""
    found = []
    if (directory / f"{name}.input.safetensors").exists():
        found.append(("", directory / f"{name}.input.safetensors", directory / f"{name}.expected.safetensors"))
    batched = sorted(directory.glob(f"{name}.batch*.input.safetensors"),
                     key=lambda p: int(p.name[len(name) + len(".batch"):].split(".")[0]))
    for path in batched:
        label = path.name[len(name) + 1:].split(".")[0]
        found.append((label, path, directory / f"{name}.{label}.expected.safetensors"))
    return found


def compare(session, inputs_path, expected_path):
    """(passed, message) for one input of one model."""
    inputs = read_safetensors(inputs_path)
    expected = read_safetensors(expected_path)
    feeds = {i.name: inputs[i.name] for i in session.get_inputs()}
    output_names = [o.name for o in session.get_outputs()]
    if sorted(output_names) != sorted(expected):
        return False, f"outputs {output_names}, expected {sorted(expected)}"
    results = session.run(output_names, feeds)
    passed = True
    parts = []
    for output_name, actual in zip(output_names, results):
        reference = expected[output_name]
        if actual.shape != reference.shape:
            return False, f"{output_name}: shape {list(actual.shape)}, Pare gives {list(reference.shape)}"
        scale = float(np.max(np.abs(reference)))
        difference = float(np.max(np.abs(actual.astype(np.float64) - reference)))
        worst = np.unravel_index(np.argmax(np.abs(actual - reference)), reference.shape)
        ok = difference < RELATIVE_TOLERANCE * max(scale, 1e-30)
        passed = passed and ok
        text = f"{output_name} {list(reference.shape)} max|diff| {difference:.3g} (scale {scale:.3g})"
        if not ok:
            text += f", worst at {tuple(int(i) for i in worst)}: onnxruntime {actual[worst]:.7g}, pare {reference[worst]:.7g}"
        parts.append(text)
    return passed, "; ".join(parts)


def check(directory, name):
    """(passed, message) for one model, over all its inputs."""
    model_path = directory / f"{name}.onnx"
    onnx.checker.check_model(str(model_path), full_check=True)
    found = cases(directory, name)
    if not found:
        return False, f"no {name}.input.safetensors or {name}.batchK.input.safetensors"
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    passed = True
    parts = []
    for label, inputs_path, expected_path in found:
        try:
            ok, message = compare(session, inputs_path, expected_path)
        except Exception as error:  # e.g. onnxruntime refusing a batch size
            ok, message = False, f"{type(error).__name__}: {error}"
        passed = passed and ok
        parts.append(f"{label}: {message}" if label else message)
    return passed, " | ".join(parts)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    directory = Path(sys.argv[1])
    names = sys.argv[2:] or sorted(p.stem for p in directory.glob("*.onnx"))
    if not names:
        sys.exit(f"no .onnx files in {directory}")
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}; tolerance {RELATIVE_TOLERANCE:g} x max|output|")
    failures = []
    for name in names:
        try:
            passed, message = check(directory, name)
        except Exception as error:  # a checker or runtime error fails this model, not the run
            passed, message = False, f"{type(error).__name__}: {error}"
        print(f"{'ok  ' if passed else 'FAIL'} {name}: {message}", flush=True)
        if not passed:
            failures.append(name)
    print(f"{len(names) - len(failures)}/{len(names)} models match" + (f"; failed: {', '.join(failures)}" if failures else ""))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
