// swift-tools-version:6.1
import PackageDescription

// Pare: make convolutional networks small and fast. See ../shared/DESIGN.md for the
// architecture: the model is a Graph, and every capability is a pass over it.
let package = Package(
    name: "Pare",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "pare", targets: ["pare"]),
        .library(name: "PareCore", targets: ["PareCore"]),
        .library(name: "PareModels", targets: ["PareModels"]),
        .library(name: "PareIO", targets: ["PareIO"]),
        .library(name: "PareData", targets: ["PareData"]),
        .library(name: "PareTrain", targets: ["PareTrain"]),
        .library(name: "PareAnalysis", targets: ["PareAnalysis"]),
        .library(name: "PareCompress", targets: ["PareCompress"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // oneDNN 2.x C API. Debian's libdnnl-dev ships no pkg-config file.
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL"),
        // OpenBLAS through its own cblas.h.
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        // Image and gzip decoding for PareData: libpng's simplified API, libjpeg-turbo
        // (with C helpers in the shim that keep its setjmp error handling out of Swift),
        // zlib's gzread for IDX files.
        .systemLibrary(
            name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"])]),
        .systemLibrary(
            name: "CJPEG", path: "Sources/CJPEG", pkgConfig: "libjpeg",
            providers: [.apt(["libjpeg62-turbo-dev"])]),
        .systemLibrary(
            name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        // Pare's own CPU kernels where oneDNN 2.6 is slow: Winograd F(4x4, 3x3) convolution,
        // max pooling and few-input-channel weight gradients on blocked layouts. C with
        // vector extensions, compiled with optimisation even in debug builds (AVX2 paths are
        // chosen at run time), threaded on oneDNN's libgomp.
        .target(
            name: "CKernels", dependencies: ["CDNNL"],
            cSettings: [.unsafeFlags(["-O2"])],
            linkerSettings: [.linkedLibrary("gomp")]),
        .target(name: "PareCore", dependencies: ["CDNNL", "CBLAS", "CKernels"]),
        .target(name: "PareModels", dependencies: ["PareCore"]),
        // ONNX/onnx.pb.swift is generated from ONNX/onnx.proto by scripts/generate-onnx-proto.sh
        // and committed, so the build never runs protoc.
        .target(
            name: "PareIO",
            dependencies: ["PareCore", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["ONNX/onnx.proto"]),
        .target(name: "PareData", dependencies: ["PareCore", "CPNG", "CJPEG", "CZlib"]),
        .target(name: "PareTrain", dependencies: ["PareCore", "PareData", "PareIO", "PareAnalysis"]),
        .target(name: "PareAnalysis", dependencies: ["PareCore"]),
        // Passes that make a model smaller and return a new graph: the graph editor, channel
        // groups, pruning criteria, surgery and schedules, and the architecture rewrites (LAPACK
        // through CBLAS for their SVDs).
        .target(name: "PareCompress", dependencies: ["CBLAS", "PareCore", "PareAnalysis", "PareTrain", "PareData", "PareIO"]),
        .executableTarget(
            name: "pare",
            dependencies: [
                "PareCore", "PareModels", "PareIO", "PareData", "PareTrain", "PareAnalysis", "PareCompress",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(name: "PareCoreTests", dependencies: ["PareCore", "PareModels"]),
        .testTarget(name: "PareIOTests", dependencies: ["PareCore", "PareIO", "PareModels"], exclude: ["Fixtures"]),
        .testTarget(name: "PareCLITests", dependencies: ["pare", "PareCore", "PareIO"], exclude: ["Fixtures"]),
        .testTarget(name: "PareDataTests", dependencies: ["PareCore", "PareData", "CJPEG", "CZlib"]),
        .testTarget(name: "PareAnalysisTests", dependencies: ["PareAnalysis", "PareModels", "PareIO", "PareCore"]),
        .testTarget(name: "PareModelsTests", dependencies: ["PareCore", "PareModels", "PareData", "PareTrain"]),
        .testTarget(name: "PareTrainTests", dependencies: ["PareCore", "PareTrain"], exclude: ["Fixtures"]),
        .testTarget(name: "PareCompressTests", dependencies: ["PareCompress", "PareCore", "PareModels", "PareIO", "PareTrain", "PareData"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "PareTrainerTests", dependencies: ["PareCore", "PareData", "PareIO", "PareModels", "PareTrain"]),
    ]
)
