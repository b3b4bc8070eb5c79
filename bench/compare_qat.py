"""Int8 accuracy of Pare against torch.ao from the same trained f32 smallcnn on Fashion-MNIST:
post-training static quantisation (calibration on the same number of training images) and
quantisation-aware training (the same epochs, learning rate, batch and schedule: SGD momentum
0.9, no weight decay, cosine), each measured on the 10,000 test images.

The f32 model is a `pare train smallcnn` checkpoint; torch reads its tensors directly (a native
.safetensors file with torch's names) and its normalisation from the checkpoint metadata, and
its own f32 test accuracy is printed beside Pare's to show that both run the same model.
torch.ao runs FX graph mode with the x86 backend's default qconfigs (per-channel weights,
reduce_range on CPUs without VNNI); Pare runs `pare quantize` with its defaults (7-bit weights
without VNNI, 1-channel conv1 kept in f32). Differences that remain: Pare's QAT trains on the
checkpoint's training split (minus its validation part, if any) with its augmentation; torch's
on the whole training split without augmentation.

Run through bench/compare-qat.sh, or:
    .venv-bench/bin/python bench/compare_qat.py --pare .build/release/pare --model runs/fm/best.safetensors
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_pruning import cpu_info, pare_json  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"


def idx(path):
    import numpy as np
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = struct.unpack(">" + "I" * dims, raw[4:4 + 4 * dims])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def safetensors(path):
    """The header and the F32 tensors of a .safetensors file (numpy arrays by name)."""
    import numpy as np
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__" or entry["dtype"] != "F32":
            continue
        begin, end = entry["data_offsets"]
        tensors[name] = np.frombuffer(data[begin:end], dtype="<f4").reshape(entry["shape"]).copy()
    return header, tensors


def checkpoint(path):
    return json.loads(safetensors(path)[0]["__metadata__"]["pare.checkpoint"])["configuration"]


def smallcnn(torch, path):
    """Pare's smallcnn with torch's modules, loaded from the Pare file (names match)."""
    nn = torch.nn

    class SmallCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, 32, 3), nn.Conv2d(32, 64, 3)
            self.fc1, self.fc2 = nn.Linear(1600, 128), nn.Linear(128, 10)

        def forward(self, x):
            x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
            x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
            return self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))

    model = SmallCNN()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in safetensors(path)[1].items()}, strict=True)
    return model


def accuracy(torch, model, images, labels):
    correct = 0
    with torch.inference_mode():
        for k in range(0, len(images), 500):
            correct += (model(images[k:k + 500]).argmax(1) == labels[k:k + 500]).sum().item()
    return correct / len(images)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pare", default=".build/release/pare")
    parser.add_argument("--model", required=True, help="a trained smallcnn checkpoint (.safetensors) of pare train on fashion-mnist")
    parser.add_argument("--calibration-batches", type=int, default=16)
    parser.add_argument("--batch", type=int, default=64, help="calibration batch size")
    parser.add_argument("--qat-epochs", type=int, default=1)
    parser.add_argument("--qat-lr", type=float, default=1e-4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import numpy as np
    import torch
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    engine = "x86" if "x86" in torch.backends.quantized.supported_engines else "fbgemm"
    torch.backends.quantized.engine = engine
    from torch.ao.quantization import get_default_qat_qconfig_mapping, get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx, prepare_qat_fx

    config = checkpoint(args.model)
    mean, std = config["normalizationMean"][0], config["normalizationStd"][0]
    train_batch = config["batchSize"]

    def tensor(images):
        return (torch.from_numpy(images.astype(np.float32) / 255).unsqueeze(1) - mean) / std

    train_x, train_y = tensor(idx(f"{DATA}/train-images-idx3-ubyte.gz")), torch.from_numpy(idx(f"{DATA}/train-labels-idx1-ubyte.gz").astype(np.int64))
    test_x, test_y = tensor(idx(f"{DATA}/t10k-images-idx3-ubyte.gz")), torch.from_numpy(idx(f"{DATA}/t10k-labels-idx1-ubyte.gz").astype(np.int64))
    print(f"{cpu_info()}; torch {torch.__version__}, torch.ao engine {engine}; {args.threads} threads")
    print(f"model {args.model}: normalisation mean {mean} std {std}; calibration {args.calibration_batches} x {args.batch} training images; "
          f"QAT {args.qat_epochs} epoch(s), lr {args.qat_lr}, batch {train_batch}")

    rows = {}
    f32 = smallcnn(torch, args.model).eval()
    rows["f32"] = {"torch": accuracy(torch, f32, test_x, test_y)}

    # torch.ao post-training static quantisation.
    order = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(args.seed))
    calibration = train_x[order[:args.calibration_batches * args.batch]]
    prepared = prepare_fx(smallcnn(torch, args.model).eval(), get_default_qconfig_mapping(engine), (test_x[:1],))
    with torch.inference_mode():
        for k in range(0, len(calibration), args.batch):
            prepared(calibration[k:k + args.batch])
    rows["ptq"] = {"torch": accuracy(torch, convert_fx(prepared), test_x, test_y)}

    # torch.ao quantisation-aware training.
    started = time.perf_counter()
    qat = prepare_qat_fx(smallcnn(torch, args.model).train(), get_default_qat_qconfig_mapping(engine), (test_x[:1],))
    optimizer = torch.optim.SGD(qat.parameters(), lr=args.qat_lr, momentum=0.9, weight_decay=0)
    steps = args.qat_epochs * ((len(train_x) + train_batch - 1) // train_batch)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    loss_fn = torch.nn.CrossEntropyLoss()
    for epoch in range(args.qat_epochs):
        order = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(args.seed + 1 + epoch))
        for k in range(0, len(train_x), train_batch):
            batch = order[k:k + train_batch]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(qat(train_x[batch]), train_y[batch]).backward()
            optimizer.step()
            schedule.step()
    qat.eval()
    rows["qat"] = {"torch": accuracy(torch, convert_fx(qat), test_x, test_y), "torchSeconds": time.perf_counter() - started}

    # Pare, on the same file.
    common = ["--data", "fashion-mnist", "--calibration-batches", args.calibration_batches, "--batch", args.batch,
              "--threads", args.threads, "--eval"]
    out = os.path.join(os.path.dirname(os.path.abspath(args.model)), "compare-qat")
    os.makedirs(out, exist_ok=True)
    ptq = pare_json(args.pare, "quantize", args.model, *common, "--out", os.path.join(out, "ptq.safetensors"))
    rows["f32"]["pare"] = ptq["testAccuracyBefore"]
    rows["ptq"]["pare"] = ptq["testAccuracyAfter"]
    started = time.perf_counter()
    qat_report = pare_json(args.pare, "quantize", args.model, *common, "--qat-epochs", args.qat_epochs, "--qat-lr", args.qat_lr,
                           "--out", os.path.join(out, "qat.safetensors"))
    rows["qat"]["pare"] = qat_report["testAccuracyAfter"]
    rows["qat"]["pareSeconds"] = time.perf_counter() - started

    print()
    print("| model | Pare | torch.ao |")
    print("|---|---|---|")
    names = {"f32": "f32", "ptq": "post-training int8", "qat": f"QAT int8 ({args.qat_epochs} epoch)"}
    for key, row in rows.items():
        def cell(v):
            return f"{100 * v:.2f}%" + ("" if key == "f32" else f" ({100 * (v - rows['f32'][side]):+.2f})")
        side = "pare"
        p = cell(row["pare"])
        side = "torch"
        t = cell(row["torch"])
        print(f"| {names[key]} | {p} | {t} |")
    print(f"QAT wall time (calibration, training, conversion, test): Pare {rows['qat']['pareSeconds']:.0f} s, torch.ao {rows['qat']['torchSeconds']:.0f} s")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
