#!/bin/sh
# Regenerates Sources/PareIO/ONNX/onnx.pb.swift from Sources/PareIO/ONNX/onnx.proto.
# The generated file is committed: the build never runs protoc. Run this by hand only when
# onnx.proto is updated (copy the new one from an `onnx` Python package or the ONNX repo:
# onnx/onnx.proto, the proto2 form, which keeps its SPDX Apache-2.0 header).
#
# What it needs (nothing is installed system-wide):
#   - protoc: `python3 -m venv /tmp/protoc-venv && /tmp/protoc-venv/bin/pip install grpcio-tools`
#     gives `python -m grpc_tools.protoc` (set PROTOC_PYTHON to that interpreter);
#   - protoc-gen-swift of the same swift-protobuf version as Package.resolved (1.39.0):
#     `git clone https://github.com/apple/swift-protobuf /tmp/swift-protobuf &&
#      cd /tmp/swift-protobuf && git checkout 1.39.0 &&
#      swift build -c release --product protoc-gen-swift`
#     (set PROTOC_GEN_SWIFT to the built binary).
#
# The message types are generated with internal visibility (`Onnx_ModelProto`, ...): they
# are PareIO's own business; ONNXExport is the public API.
set -eu
cd "$(dirname "$0")/.."
PROTOC_PYTHON=${PROTOC_PYTHON:-/tmp/protoc-venv/bin/python}
PROTOC_GEN_SWIFT=${PROTOC_GEN_SWIFT:-/tmp/swift-protobuf/.build/release/protoc-gen-swift}
"$PROTOC_PYTHON" -m grpc_tools.protoc \
    --plugin=protoc-gen-swift="$PROTOC_GEN_SWIFT" \
    --proto_path=Sources/PareIO/ONNX \
    --swift_out=Sources/PareIO/ONNX \
    --swift_opt=Visibility=Internal \
    onnx.proto
echo "wrote Sources/PareIO/ONNX/onnx.pb.swift"
