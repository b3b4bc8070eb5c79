// swift-tools-version:6.1
import PackageDescription

// Pare's fuzz targets (issue 16), kept out of the main package so that `swift build` and
// `make test` never see them. `make fuzz` (Fuzz/run.sh) builds this package with libFuzzer's
// coverage instrumentation and AddressSanitizer on every module, Pare's included (this
// package uses Pare by path), generates seed corpora with `fuzz-seeds` and runs every
// `fuzz-*` target; see Fuzz/README.md.
//
// A path dependency's identity is its directory's name, and the clone may have any name
// (even `fuzz`, this package's own identity), so Pare is reached through the symbolic link
// Fuzz/Pare -> .. and is always `pare` here.
let pare = "pare"

func fuzzTarget(_ name: String, _ products: [String]) -> Target {
    .executableTarget(
        name: "fuzz-\(name)",
        dependencies: ["FuzzSupport"] + products.map { .product(name: $0, package: pare) },
        path: "Sources/fuzz-\(name)")
}

let package = Package(
    name: "PareFuzz",
    dependencies: [.package(path: "Pare")],
    targets: [
        .target(name: "FuzzSupport", path: "Sources/FuzzSupport"),
        fuzzTarget("idx", ["PareData"]),
        fuzzTarget("idx-gzip", ["PareData"]),
        fuzzTarget("cifar", ["PareData"]),
        fuzzTarget("png", ["PareData"]),
        fuzzTarget("jpeg", ["PareData"]),
        fuzzTarget("safetensors", ["PareCore", "PareIO"]),
        fuzzTarget("architecture", ["PareCore", "PareIO"]),
        fuzzTarget("onnx", ["PareCore", "PareIO"]),
        fuzzTarget("checkpoint", ["PareCore", "PareIO", "PareTrain"]),
        fuzzTarget("plan", ["PareCore", "PareModels", "PareCompress"]),
        // Writes the seed corpora: small valid files of every format, made by Pare itself.
        .executableTarget(
            name: "fuzz-seeds",
            dependencies: ["PareCore", "PareModels", "PareIO", "PareData", "PareTrain", "PareCompress"]
                .map { .product(name: $0, package: pare) },
            path: "Sources/fuzz-seeds"),
    ]
)
