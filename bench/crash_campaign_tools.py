#!/usr/bin/env python3
"""Helpers of bench/crash-campaign.sh (standard library only).

  subset SRC DST TRAIN TEST   write the first TRAIN/TEST samples of the MNIST-format data set
                              in SRC (gzipped IDX files) to DST, same format
  check DIR                   every *.safetensors under DIR is a complete, well-formed file
                              (header length, JSON, offsets covering the data exactly) and every
                              *.json parses; prints "files=N corrupt=M temporaries=T" (T: leftover
                              .NAME.UUID.tmp files) and exits 1 if any is corrupt
  kill-on-write DIR PID SECONDS
                              SIGKILL process PID as soon as a temporary file of an atomic write
                              (.NAME.UUID.tmp) is created in DIR or below (inotify), waiting
                              for at most SECONDS; prints
                              "killed" and exits 0 if it did, exits 1 if PID ended or time ran out
  same A B                    the tensors of safetensors files A and B are bit-identical (same
                              names, dtypes, shapes, bytes); prints the differing names, exits 1
"""
import gzip
import json
import os
import struct
import sys


def subset(src, dst, train, test):
    os.makedirs(dst, exist_ok=True)
    for prefix, count in (("train", train), ("t10k", test)):
        for kind, rank in (("images", 3), ("labels", 1)):
            name = f"{prefix}-{kind}-idx{rank}-ubyte.gz"
            with gzip.open(os.path.join(src, name), "rb") as f:
                data = f.read()
            header = 4 + 4 * rank
            dims = list(struct.unpack(">" + "I" * rank, data[4:header]))
            per = 1
            for d in dims[1:]:
                per *= d
            dims[0] = min(count, dims[0])
            out = data[:4] + struct.pack(">" + "I" * rank, *dims) + data[header:header + dims[0] * per]
            with gzip.open(os.path.join(dst, name), "wb") as f:
                f.write(out)


def read_safetensors(path):
    """(tensors {name: (dtype, shape, bytes)}, metadata); raises ValueError when malformed."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{len(data)} bytes")
    (length,) = struct.unpack("<Q", data[:8])
    if length > len(data) - 8:
        raise ValueError(f"header of {length} bytes in a file of {len(data)}")
    header = json.loads(data[8:8 + length].decode("utf-8"))
    body = data[8 + length:]
    tensors, spans = {}, []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        spans.append((begin, end))
        tensors[name] = (entry["dtype"], tuple(entry["shape"]), body[begin:end])
    covered = 0
    for begin, end in sorted(spans):
        if begin != covered:
            raise ValueError(f"gap or overlap at {begin}")
        covered = end
    if covered != len(body):
        raise ValueError(f"tensors cover {covered} of {len(body)} data bytes")
    return tensors, header.get("__metadata__", {})


def check(directory):
    files = corrupt = temporaries = 0
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            if name.startswith(".") and name.endswith(".tmp"):
                temporaries += 1
            elif name.endswith(".safetensors") or name.endswith(".json"):
                files += 1
                try:
                    if name.endswith(".json"):
                        with open(path, "rb") as f:
                            json.loads(f.read().decode("utf-8"))
                    else:
                        read_safetensors(path)
                except Exception as error:  # noqa: BLE001 - any failure is corruption
                    corrupt += 1
                    print(f"CORRUPT {path}: {error}", file=sys.stderr)
    print(f"files={files} corrupt={corrupt} temporaries={temporaries}")
    return 1 if corrupt else 0


def temporaries_under(directory):
    """Paths of the temporary files of atomic writes (.NAME.UUID.tmp) in DIR or below."""
    return {os.path.join(root, n) for root, _, files in os.walk(directory)
            for n in files if n.startswith(".") and n.endswith(".tmp")}


def kill_on_write(directory, pid, seconds):
    """Watches DIR and its subdirectories with inotify (through libc; polling misses most
    writes, which last milliseconds) and SIGKILLs PID when a temporary file is created."""
    import ctypes
    import select
    import signal
    import struct
    import time
    in_create, in_isdir = 0x100, 0x40000000
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "inotify_init1")
    deadline = time.monotonic() + seconds

    def alive():
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False

    def fire():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return 1
        print("killed")
        return 0

    def watch_tree(top):
        for root, _, _ in os.walk(top):
            libc.inotify_add_watch(fd, root.encode(), in_create)

    while not os.path.isdir(directory):  # a fresh start creates it
        if not alive() or time.monotonic() > deadline:
            return 1
        time.sleep(0.001)
    # Temporaries an earlier kill left (until the resumed run deletes them) are not a write.
    leftovers = temporaries_under(directory)
    watch_tree(directory)
    if temporaries_under(directory) - leftovers:  # created while the watches were added
        return fire()
    paths = {}
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if not ready:
            if not alive():
                return 1
            continue
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            continue
        offset = 0
        while offset < len(data):
            _, mask, _, length = struct.unpack_from("iIII", data, offset)
            name = data[offset + 16:offset + 16 + length].rstrip(b"\0").decode()
            offset += 16 + length
            if mask & in_isdir:
                # A new directory (a pruning step's): watch it, and look at what it holds already.
                for root, _, _ in os.walk(directory):
                    if root not in paths:
                        paths[root] = True
                        libc.inotify_add_watch(fd, root.encode(), in_create)
                if temporaries_under(directory) - leftovers:
                    return fire()
            elif name.startswith(".") and name.endswith(".tmp"):
                return fire()
    return 1


def same(a, b):
    ta, _ = read_safetensors(a)
    tb, _ = read_safetensors(b)
    differing = sorted(n for n in set(ta) | set(tb) if ta.get(n) != tb.get(n))
    for name in differing:
        print(f"differs: {name}")
    return 1 if differing else 0


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "subset":
        subset(args[0], args[1], int(args[2]), int(args[3]))
    elif command == "check":
        sys.exit(check(args[0]))
    elif command == "kill-on-write":
        sys.exit(kill_on_write(args[0], int(args[1]), float(args[2])))
    elif command == "same":
        sys.exit(same(args[0], args[1]))
    else:
        sys.exit(f"unknown command {command}")
