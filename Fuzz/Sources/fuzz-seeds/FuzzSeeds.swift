// Writes the seed corpora of the fuzz targets: small valid files of every format, made by
// Pare's own writers (and zlib/libjpeg for the images), so nothing is downloaded.
// Usage: fuzz-seeds DIRECTORY  (writes DIRECTORY/<target>/<name> for every target but
// idx-gzip, whose seeds are the idx ones gzipped by Fuzz/run.sh).
//
// It is built like the targets, with libFuzzer, which owns `main`: the work is done in
// libFuzzer's LLVMFuzzerInitialize hook, which runs first and exits.
import CJPEG
import CZlib
import Foundation
import PareCompress
import PareCore
import PareData
import PareIO
import PareModels
import PareTrain

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutableRawPointer, _ argv: UnsafeMutableRawPointer) -> CInt {
    do {
        try writeSeeds()
        exit(0)
    } catch {
        FileHandle.standardError.write(Data("fuzz-seeds: \(error)\n".utf8))
        exit(1)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func unused(_ start: UnsafeRawPointer, _ count: Int) -> CInt { 0 }

func writeSeeds() throws {
    do {
        let root = URL(fileURLWithPath: CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "seeds")
        var written = 0

        func write(_ target: String, _ name: String, _ bytes: some DataProtocol) throws {
            let directory = root.appendingPathComponent(target)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data(bytes).write(to: directory.appendingPathComponent(name))
            written += 1
        }

        func bigEndian(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) } }

        /// A deterministic byte pattern.
        func pattern(_ count: Int, _ salt: Int = 0) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 * 37 + salt * 11) } }

        // MARK: IDX

        func idx(magic: UInt32, dimensions: [Int]) -> [UInt8] {
            bigEndian(magic) + dimensions.flatMap { bigEndian(UInt32($0)) } + pattern(dimensions.reduce(1, *))
        }
        try write("idx", "images-2x4x4", idx(magic: IDXFile.imagesMagic, dimensions: [2, 4, 4]))
        try write("idx", "images-1x28x28", idx(magic: IDXFile.imagesMagic, dimensions: [1, 28, 28]))
        try write("idx", "images-0", idx(magic: IDXFile.imagesMagic, dimensions: [0, 28, 28]))
        try write("idx", "labels-3", bigEndian(IDXFile.labelsMagic) + bigEndian(3) + [0, 9, 4])

        // MARK: CIFAR

        func cifarRecord(labels: [UInt8], _ salt: Int) -> [UInt8] { labels + pattern(CIFAR.imageBytes, salt) }
        try write("cifar", "cifar10-2", cifarRecord(labels: [3], 1) + cifarRecord(labels: [9], 2))
        try write("cifar", "cifar100-1", cifarRecord(labels: [4, 77], 3))

        // MARK: PNG (zlib-compressed, every colour type) and JPEG (libjpeg-turbo)

        func png(width: Int, height: Int, bitDepth: UInt8, colorType: UInt8, samplesPerPixel: Int,
                 palette: [UInt8]? = nil, transparency: [UInt8]? = nil) -> [UInt8] {
            func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
                let body = Array(type.utf8) + data
                let crc = body.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
                return bigEndian(UInt32(data.count)) + body + bigEndian(crc)
            }
            let rowBytes = (width * samplesPerPixel * Int(bitDepth) + 7) / 8
            var raw: [UInt8] = []
            for row in 0..<height {
                var bytes = pattern(rowBytes, row)
                if colorType == 3 { bytes = bytes.map { $0 % UInt8((palette?.count ?? 3) / 3) } }
                raw += [UInt8(row % 5)] + bytes  // every filter type
            }
            var size = compressBound(UInt(raw.count))
            var compressed = [UInt8](repeating: 0, count: Int(size))
            precondition(compress(&compressed, &size, raw, UInt(raw.count)) == Z_OK)
            var result: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
            result += chunk("IHDR", bigEndian(UInt32(width)) + bigEndian(UInt32(height)) + [bitDepth, colorType, 0, 0, 0])
            if let palette { result += chunk("PLTE", palette) }
            if let transparency { result += chunk("tRNS", transparency) }
            result += chunk("IDAT", Array(compressed.prefix(Int(size))))
            return result + chunk("IEND", [])
        }
        try write("png", "grey8", png(width: 5, height: 4, bitDepth: 8, colorType: 0, samplesPerPixel: 1))
        try write("png", "grey1", png(width: 9, height: 3, bitDepth: 1, colorType: 0, samplesPerPixel: 1))
        try write("png", "rgb8", png(width: 4, height: 3, bitDepth: 8, colorType: 2, samplesPerPixel: 3))
        try write("png", "rgb16", png(width: 3, height: 2, bitDepth: 16, colorType: 2, samplesPerPixel: 3))
        try write("png", "palette", png(width: 4, height: 4, bitDepth: 8, colorType: 3, samplesPerPixel: 1,
                                       palette: pattern(12), transparency: [0, 128]))
        try write("png", "grey-alpha", png(width: 3, height: 3, bitDepth: 8, colorType: 4, samplesPerPixel: 2))
        try write("png", "rgba8", png(width: 2, height: 5, bitDepth: 8, colorType: 6, samplesPerPixel: 4))

        func jpeg(width: Int, height: Int, components: Int, quality: Int, progressive: Bool = false) -> [UInt8] {
            var output: UnsafeMutablePointer<UInt8>?
            var size: UInt = 0
            var message = [CChar](repeating: 0, count: 256)
            let pixels = pattern(width * height * components)
            let status = pare_jpeg_encode(pixels, Int32(width), Int32(height), Int32(components), Int32(quality), progressive ? 1 : 0, &output, &size,
                                          &message, message.count)
            precondition(status == 0, "libjpeg: \(String(cString: message))")
            defer { free(output) }
            return Array(UnsafeBufferPointer(start: output!, count: Int(size)))
        }
        try write("jpeg", "grey-8x8", jpeg(width: 8, height: 8, components: 1, quality: 90))
        try write("jpeg", "rgb-16x8", jpeg(width: 16, height: 8, components: 3, quality: 75))
        try write("jpeg", "rgb-5x3", jpeg(width: 5, height: 3, components: 3, quality: 100))
        try write("jpeg", "grey-16x16-progressive", jpeg(width: 16, height: 16, components: 1, quality: 90, progressive: true))
        try write("jpeg", "rgb-16x16-progressive", jpeg(width: 16, height: 16, components: 3, quality: 75, progressive: true))

        // MARK: Models: safetensors, architecture JSON, ONNX

        let tiny = try tinyResidualNet(input: [3, 8, 8], classes: 4)
        let small = try smallCNN(input: [1, 12, 12], classes: 3, widthMultiplier: 0.125)
        try write("safetensors", "tiny-residual", ModelFile.encode(tiny).encoded())
        try write("safetensors", "smallcnn", ModelFile.encode(small).encoded())
        try write("safetensors", "plain-every-dtype", SafetensorsFile(
            tensors: ["a.f32": try Tensor(shape: [2, 3], values: (0..<6).map(Float.init)),
                      "b.u8": Tensor(zeros: [4], dtype: .u8), "c.i8": Tensor(zeros: [1, 2], dtype: .i8),
                      "d.bf16": Tensor(zeros: [3], dtype: .bf16), "e.i32": Tensor(zeros: [2], dtype: .i32),
                      "f.i64": Tensor(zeros: [1], dtype: .i64), "g.empty": Tensor(zeros: [0, 5])],
            metadata: ["format": "pt"]).encoded())

        struct Architecture: Encodable { var nodes: [Node]; var outputs: [Int] }
        func architecture(_ graph: Graph) throws -> Data {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return try encoder.encode(Architecture(nodes: graph.nodes, outputs: graph.outputs))
        }
        try write("architecture", "tiny-residual.json", architecture(tiny))
        try write("architecture", "smallcnn.json", architecture(small))
        try write("architecture", "mobilenet_v2.json", architecture(
            mobileNetV2(form: .cifar, widthMultiplier: 0.25, input: [3, 16, 16], classes: 4, withParameters: false)))
        try write("architecture", "shufflenet_v2.json", architecture(
            shuffleNetV2(.x0_5, input: [3, 16, 16], classes: 4, withParameters: false)))
        try write("architecture", "resnet18-cifar.json", architecture(
            resnet(depth: 18, form: .cifar, input: [3, 16, 16], classes: 4, withParameters: false)))

        try write("onnx", "tiny-residual.onnx", ONNXExport.data(tiny))
        try write("onnx", "smallcnn.onnx", ONNXExport.data(small))
        try write("onnx", "smallcnn-batch1.onnx", ONNXExport.data(small, options: ONNXExportOptions(staticBatch: 1)))

        // MARK: Training checkpoints (SGD and Adam state) and pruning plans

        for kind in [OptimizerKind.sgd, .adam] {
            var configuration = TrainingConfiguration()
            configuration.epochs = 2
            configuration.batchSize = 4
            configuration.optimizer = kind
            let optimizer = kind.make(configuration)
            let gradients = small.parameters.mapValues { Tensor(zeros: $0.shape, dtype: $0.dtype) }
            try optimizer.step(parameters: small.parameters.filter { $0.value.dtype == .f32 && !$0.key.hasSuffix("num_batches_tracked") },
                               gradients: gradients.filter { $0.value.dtype == .f32 && !$0.key.hasSuffix("num_batches_tracked") })
            let history = [EpochMetrics(epoch: 1, learningRate: 0.05, trainLoss: 1.5, trainAccuracy: 0.25,
                                        validation: nil, test: EvaluationScore(loss: 1.25, accuracy: 0.5),
                                        seconds: 1, imagesPerSecond: 100, dataWaitSeconds: 0)]
            let json: [String: Any] = [
                "completedEpochs": 1, "steps": 3, "trainingSamples": 12, "selectionSamples": 4, "bestEpoch": 1, "bestAccuracy": 0.5,
                "configuration": try JSONSerialization.jsonObject(with: JSONEncoder().encode(configuration)),
                "history": try JSONSerialization.jsonObject(with: JSONEncoder().encode(history)),
            ]
            let checkpoint = try JSONDecoder().decode(TrainingCheckpoint.self, from: JSONSerialization.data(withJSONObject: json))
            try write("checkpoint", "smallcnn-\(kind.rawValue)", checkpoint.file(graph: small, optimizerState: optimizer.stateTensors()).encoded())
        }

        let analysis = try ChannelAnalysis(tinyResidualNet(input: [3, 8, 8], classes: 4))
        let prunable = analysis.groups.filter(\.prunable)
        func plan(_ removed: (ChannelGroup) -> [Int]) -> PruningPlan {
            PruningPlan(settings: ["criterion": "seed"], entries: prunable.map {
                PruningPlan.Entry(group: $0.id, units: $0.units, producers: $0.producers, removed: removed($0))
            })
        }
        try write("plan", "empty.json", PruningPlan.empty.jsonData())
        try write("plan", "first.json", plan { _ in [0] }.jsonData())
        try write("plan", "half.json", plan { Array(stride(from: 0, to: $0.units, by: 2)) }.jsonData())
        print("wrote \(written) seed files under \(root.path)")
    }
}
