#!/usr/bin/env python3
"""Writes the ONNX import parity fixtures under Tests/PareIOTests/Fixtures/onnx/.

Run by hand (the fixtures are committed, so CI needs no torch), with a Python that has
torch, torchvision, onnx, onnxruntime, numpy and safetensors, plus onnxscript for the dynamo
exporter:

    python scripts/make-onnx-fixtures.py [OUT_DIR] [--only NAME,NAME,...]

(`--only` writes just the named fixtures, e.g. the mobile ones, leaving the others as
committed.)

Models: torchvision's own classes, width-reduced so the files stay small, random weights
(seed 0) with random batch-norm statistics and affine parameters (fresh ones are the
identity and would hide a wrong mapping), 32x32 inputs, 10 classes:
  resnet18       torchvision ResNet(BasicBlock, [2, 2, 2, 2]) at 1/8 width (8/16/32/64
                 channels: torchvision's constructor hard-codes 64..512, so the subclass
                 below repeats its 15 lines with a width argument and torchvision's blocks)
  mobilenet_v2   torchvision mobilenet_v2(width_mult=0.1)
  shufflenet_v2  torchvision ShuffleNetV2([4, 8, 4], [8, 16, 32, 64, 128]) (x1_0's structure,
                 channels reduced)
  mobilenet_v3_small, mobilenet_v3_large
                 torchvision mobilenet_v3_small/large(width_mult=0.1): SE blocks (Mul by a
                 hard-sigmoid gate), hard swish
  efficientnet_b0
                 torchvision EfficientNet with efficientnet_b0's table at width_mult=0.1,
                 depth_mult=0.5 (blocks per stage 1,1,1,2,2,2,1): SiLU, SE with a sigmoid gate
  classic        a small nn.Sequential with the other layers Pare reads: ReflectionPad2d,
                 ReplicationPad2d, LeakyReLU, PReLU (per channel and shared), ELU, Tanh, SiLU,
                 Hardsigmoid, an SE gate made by a Linear layer (x * gate.view(N, -1, 1, 1)).
                 (Not LocalResponseNorm: torch.onnx writes it as Pow/Pad/AveragePool/Div on a
                 5-D tensor, not as LRN; Pare's LRN import is checked on Pare's own exports.)
The mobile models take 48x48 inputs (32x32 would leave 1x1 maps from the third stage on).
Each is exported with torch.onnx.export's TorchScript exporter (dynamo=False; with a
dynamic batch, so reshape targets come from Shape/Gather/Unsqueeze/Concat chains; opsets
vary) and, where it works offline, the dynamo exporter (dynamo=True). TorchScript exports
with constant folding fold batch norm into the convolutions; `shufflenet_v2-ts-nofold`
keeps BatchNormalization nodes (do_constant_folding=False).

For each export NAME: NAME.onnx, NAME.input.safetensors (`input`, [2, 3, 32, 32]) and
NAME.expected.safetensors (`output`: PyTorch's eval-mode output; `onnxruntime`: what
onnxruntime computes from the file, as a check of the export itself).

Also `mobilenet_v2.state_dict.safetensors`: the state dict of the same mobilenet_v2
(safetensors.torch.save_file), for the weights-import test: it matches the zoo model
`mobilenet_v2 --width-multiplier 0.1 --classes 10 --input 3x32x32`, whose expected output is
`mobilenet_v2-ts.expected.safetensors`. (A full resnet18 state dict is 45 MB; mobilenet_v2
is the zoo's torchvision model with a width multiplier, so it can be made small.)
"""
import sys
import types
from pathlib import Path

# PyPI's torchvision wheel is built against CUDA torch; with the CPU torch wheel its
# compiled ops fail to register their meta kernels and `import torchvision` fails. The
# model definitions need none of them: register nothing (as bench/torchvision_compat.py).
sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from torch import nn  # noqa: E402
from torchvision.models import efficientnet, mobilenet_v2, mobilenet_v3_large, mobilenet_v3_small, resnet, shufflenetv2  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "Tests" / "PareIOTests" / "Fixtures" / "onnx"
BATCH = 2
CLASSES = 10


class NarrowResNet(resnet.ResNet):
    """torchvision's ResNet with stage widths `widths` instead of 64/128/256/512: the body
    of ResNet.__init__ with the widths as an argument, built from torchvision's blocks
    and its _make_layer, so module names and structure are torchvision's."""

    def __init__(self, block, layers, widths, num_classes):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = widths[0]
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, widths[0], layers[0])
        self.layer2 = self._make_layer(block, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, widths[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[3] * block.expansion, num_classes)


class LinearGate(nn.Module):
    """x * sigmoid(fc(pool(x))) with the gate viewed back as [N, C, 1, 1] (a linear SE)."""

    def __init__(self, channels):
        super().__init__()
        self.fc = nn.Linear(channels, channels)

    def forward(self, x):
        gate = torch.sigmoid(self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)))
        return x * gate.view(x.shape[0], -1, 1, 1)


def classic():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
        nn.ReflectionPad2d((1, 2, 0, 1)), nn.Conv2d(8, 12, 3), nn.PReLU(12), nn.LeakyReLU(0.1),
        nn.ReplicationPad2d(1), nn.Conv2d(12, 12, 3, groups=12), nn.ELU(0.7), LinearGate(12), nn.Tanh(),
        nn.Conv2d(12, 16, 1), nn.SiLU(), nn.Hardsigmoid(), nn.MaxPool2d(2), nn.PReLU(), nn.AvgPool2d(4),
        nn.Flatten(), nn.Linear(16 * 3 * 4, CLASSES))


def randomize(model, generator):
    """Random weights, and batch norms with random affine parameters and statistics."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                bound = (6 / fan_in) ** 0.5
                module.weight.uniform_(-bound, bound, generator=generator)
                if module.bias is not None:
                    module.bias.uniform_(-0.2, 0.2, generator=generator)
            elif isinstance(module, nn.BatchNorm2d):
                # (MobileNetV3's eps 0.001 and EfficientNet's 1e-5 are kept.)
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.uniform_(-0.3, 0.3, generator=generator)
                module.running_mean.uniform_(-0.3, 0.3, generator=generator)
                module.running_var.uniform_(0.5, 2.0, generator=generator)
                module.num_batches_tracked.fill_(7)
            elif isinstance(module, nn.PReLU):
                module.weight.uniform_(-0.5, 0.5, generator=generator)
    return model.eval()


def models():
    generator = torch.Generator().manual_seed(0)
    return {
        "resnet18": randomize(NarrowResNet(resnet.BasicBlock, [2, 2, 2, 2], [8, 16, 32, 64], CLASSES), generator),
        "mobilenet_v2": randomize(mobilenet_v2(width_mult=0.1, num_classes=CLASSES), generator),
        "shufflenet_v2": randomize(shufflenetv2.ShuffleNetV2([4, 8, 4], [8, 16, 32, 64, 128], num_classes=CLASSES), generator),
        "mobilenet_v3_small": randomize(mobilenet_v3_small(width_mult=0.1, num_classes=CLASSES), generator),
        "mobilenet_v3_large": randomize(mobilenet_v3_large(width_mult=0.1, num_classes=CLASSES), generator),
        "efficientnet_b0": randomize(efficientnet.EfficientNet(
            efficientnet._efficientnet_conf("efficientnet_b0", width_mult=0.1, depth_mult=0.5)[0], 0.2,
            num_classes=CLASSES), generator),
        "classic": randomize(classic(), generator),
    }


# Per-sample input size by model (default 32x32).
INPUT_SIZE = {"mobilenet_v3_small": 48, "mobilenet_v3_large": 48, "efficientnet_b0": 48}


# (fixture name, model, exporter, opset, extra export arguments)
EXPORTS = [
    ("resnet18-ts", "resnet18", "torchscript", 11, {}),
    ("mobilenet_v2-ts", "mobilenet_v2", "torchscript", 13, {}),
    ("shufflenet_v2-ts", "shufflenet_v2", "torchscript", 17, {}),
    ("shufflenet_v2-ts-nofold", "shufflenet_v2", "torchscript", 20, {"do_constant_folding": False}),
    ("resnet18-dynamo", "resnet18", "dynamo", 18, {}),
    ("shufflenet_v2-dynamo", "shufflenet_v2", "dynamo", 18, {}),
    # Without constant folding the batch norms keep torchvision's names: the tests load them
    # into the zoo's models. Opset 13 writes hard swish as x * HardSigmoid(x).
    ("mobilenet_v3_small-ts-nofold", "mobilenet_v3_small", "torchscript", 13, {"do_constant_folding": False}),
    ("mobilenet_v3_large-ts-nofold", "mobilenet_v3_large", "torchscript", 17, {"do_constant_folding": False}),
    ("efficientnet_b0-ts-nofold", "efficientnet_b0", "torchscript", 17, {"do_constant_folding": False}),
    ("efficientnet_b0-ts", "efficientnet_b0", "torchscript", 14, {}),
    ("classic-ts", "classic", "torchscript", 17, {}),
]


def export(model, x, path, exporter, opset, extra):
    if exporter == "torchscript":
        torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=opset, input_names=["input"],
                          output_names=["output"], dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, **extra)
    else:
        program = torch.onnx.export(model, (x,), dynamo=True, opset_version=opset, input_names=["input"],
                                    output_names=["output"], dynamic_shapes=({0: torch.export.Dim("batch")},),
                                    external_data=False, **extra)
        program.save(str(path), external_data=False)


def main():
    arguments = sys.argv[1:]
    only = None
    if "--only" in arguments:
        k = arguments.index("--only")
        only = set(arguments[k + 1].split(","))
        del arguments[k:k + 2]
    out = Path(arguments[0]) if arguments else DEFAULT_OUT
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    built = models()
    inputs = {name: torch.randn(BATCH, 3, INPUT_SIZE.get(name, 32), INPUT_SIZE.get(name, 32),
                                generator=torch.Generator().manual_seed(1 + k))
              for k, name in enumerate(built)}
    print(f"torch {torch.__version__}, onnx {onnx.__version__}, onnxruntime {ort.__version__}")
    for fixture, name, exporter, opset, extra in EXPORTS:
        if only is not None and fixture not in only:
            continue
        model, x = built[name], inputs[name]
        path = out / f"{fixture}.onnx"
        try:
            export(model, x, path, exporter, opset, extra)
        except Exception as error:  # the dynamo exporter needs onnxscript; say so and go on
            print(f"SKIP {fixture}: {type(error).__name__}: {str(error).splitlines()[0][:200]}")
            continue
        onnx.checker.check_model(str(path), full_check=True)
        with torch.no_grad():
            expected = model(x)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (runtime,) = session.run(None, {"input": x.numpy()})
        difference = float(np.max(np.abs(runtime - expected.numpy())))
        save_file({"input": x.contiguous()}, str(out / f"{fixture}.input.safetensors"))
        save_file({"output": expected.contiguous(), "onnxruntime": torch.from_numpy(runtime).contiguous()},
                  str(out / f"{fixture}.expected.safetensors"))
        ops = sorted({node.op_type for node in onnx.load(str(path)).graph.node})
        print(f"{fixture}: {path.stat().st_size} bytes, opset {opset}, max|onnxruntime - torch| {difference:.3g}, ops {ops}")
    if only is None:
        state = {key: value.contiguous() for key, value in built["mobilenet_v2"].state_dict().items()}
        save_file(state, str(out / "mobilenet_v2.state_dict.safetensors"))
        print(f"state dict: {len(state)} tensors")
    total = sum(p.stat().st_size for p in out.iterdir())
    print(f"all fixtures: {total} bytes in {out}")


if __name__ == "__main__":
    main()
