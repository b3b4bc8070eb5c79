#!/usr/bin/env python3
"""Checks that a state dict written by `pare export --safetensors-state-dict` loads into the
matching torchvision model with strict key checking, and that the model then computes what
Pare computed.

Usage: check-state-dict.py MODEL STATE_DICT INPUT PARE_OUTPUT

MODEL is a torchvision builder with keyword arguments, e.g. `resnet18` or
`mobilenet_v2:width_mult=0.1,num_classes=10`. INPUT holds the tensor `input`, PARE_OUTPUT
Pare's output `output` for it (`pare run`). Passes when
`model.load_state_dict(safetensors.torch.load_file(STATE_DICT))` (strict) succeeds and
max |torch - pare| <= 1e-5 + 1e-4 * max |pare|. Needs torch, torchvision and safetensors.
"""
import sys
import types

# PyPI's torchvision wheel is built against CUDA torch; with the CPU torch wheel its compiled
# ops fail to register their meta kernels. The model definitions need none of them.
sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))

import torch  # noqa: E402
import torchvision  # noqa: E402
from safetensors.torch import load_file  # noqa: E402


def build(spec):
    name, _, arguments = spec.partition(":")
    kwargs = {}
    for item in filter(None, arguments.split(",")):
        key, value = item.split("=")
        kwargs[key] = float(value) if "." in value else int(value)
    return getattr(torchvision.models, name)(**kwargs)


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    spec, state_path, input_path, output_path = sys.argv[1:]
    model = build(spec)
    state = load_file(state_path)
    model.load_state_dict(state)  # strict: raises on missing or unexpected keys
    model.eval()
    x = load_file(input_path)["input"]
    expected = load_file(output_path)["output"]
    with torch.no_grad():
        actual = model(x)
    scale = float(expected.abs().max())
    difference = float((actual - expected).abs().max())
    ok = difference <= 1e-5 + 1e-4 * scale
    print(f"{'ok' if ok else 'FAIL'} {spec}: {len(state)} tensors loaded strictly; "
          f"max|torch - pare| {difference:.3g} (scale {scale:.3g})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
