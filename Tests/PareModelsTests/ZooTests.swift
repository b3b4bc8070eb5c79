import PareCore
import XCTest

import PareModels

/// The model zoo against PyTorch: parameter counts, state-dict names and output shapes, the
/// option errors, and a forward and backward pass of every model through the fast executor.
///
/// The expected counts and names were taken from PyTorch 2.13 / torchvision 0.28
/// (`sum(p.numel() for p in m.parameters())`, `m.state_dict()`); for the models torchvision
/// lacks, from the PyTorch modules their sources define (Network Slimming's `models/vgg.py`,
/// the CIFAR ResNets with a 1x1 conv shortcut, the seeds' tables and printouts).
final class ZooTests: XCTestCase {
    /// Trainable parameters of every zoo model at its default input and classes.
    static let parameterCounts: [String: Int] = [
        "resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
        "resnet101": 44_549_160, "resnet152": 60_192_808,
        "resnet18-cifar": 11_173_962, "resnet34-cifar": 21_282_122, "resnet50-cifar": 23_520_842,
        "resnet101-cifar": 42_512_970, "resnet152-cifar": 58_156_618,
        // Option B shortcuts: 2,752 more than option A's 269,722 / 464,154 / 658,586 / 853,018 / 1,727,962.
        "resnet20": 272_474, "resnet32": 466_906, "resnet44": 661_338, "resnet56": 855_770, "resnet110": 1_730_714,
        "vgg11": 132_868_840, "vgg13": 133_053_736, "vgg16": 138_365_992, "vgg19": 143_678_248,
        // Network Slimming reports 20.04M for its CIFAR-10 VGG-19.
        "vgg11-cifar": 9_228_362, "vgg13-cifar": 9_413_066, "vgg16-cifar": 14_724_042, "vgg19-cifar": 20_035_018,
        "mobilenet_v2": 3_504_872, "mobilenet_v2-cifar": 2_236_682,
        "mobilenet_v3_small": 2_542_856, "mobilenet_v3_large": 5_483_032, "efficientnet_b0": 5_288_548,
        "shufflenet_v2_x0_5": 1_366_792, "shufflenet_v2_x1_0": 2_278_604,
        "shufflenet_v2_x1_5": 3_503_624, "shufflenet_v2_x2_0": 7_393_996,
        "resnet18-slim-b1": 5_337_128, "resnet18-slim-b2": 11_533_864,  // seeds/000's two tables
        "studentnet": 274_763,  // seeds/003
        "smallcnn": 225_034,
        "tiny-residual": 16_186,
    ]

    /// Entries of the state dict (parameters and batch-norm buffers), where PyTorch's count
    /// was taken.
    static let stateDictSizes: [String: Int] = [
        "resnet18": 122, "resnet34": 218, "resnet50": 320, "resnet101": 626, "resnet152": 932,
        "resnet18-cifar": 122, "resnet50-cifar": 320, "resnet20": 128, "resnet56": 344, "resnet110": 668,
        "vgg11": 62, "vgg13": 76, "vgg16": 97, "vgg19": 118,
        "vgg11-cifar": 50, "vgg13-cifar": 62, "vgg16-cifar": 80, "vgg19-cifar": 98,
        "mobilenet_v2": 314, "mobilenet_v2-cifar": 314,
        "mobilenet_v3_small": 244, "mobilenet_v3_large": 312, "efficientnet_b0": 360,
        "shufflenet_v2_x0_5": 338, "shufflenet_v2_x1_0": 338, "shufflenet_v2_x1_5": 338, "shufflenet_v2_x2_0": 338,
        "resnet18-slim-b1": 62, "resnet18-slim-b2": 98, "studentnet": 92, "smallcnn": 8,
    ]

    func testEveryModelHasItsParameterCountAndOutputShape() throws {
        XCTAssertEqual(Set(Zoo.names), Set(Self.parameterCounts.keys), "every registered model has a count here")
        XCTAssertEqual(Zoo.names.count, Set(Zoo.names).count, "names are unique")
        for entry in Zoo.entries {
            XCTAssertFalse(entry.summary.isEmpty || entry.summary.contains("\n"), "\(entry.name): a one-line summary")
            let graph = try Zoo.build(entry.name, options: ZooOptions(withParameters: false))
            XCTAssertEqual(try graph.trainableParameterCount(), Self.parameterCounts[entry.name], entry.name)
            if let size = Self.stateDictSizes[entry.name] {
                XCTAssertEqual(try graph.parameterSpecs().count, size, "\(entry.name) state dict")
            }
            XCTAssertEqual(try graph.inferShapes()[graph.outputs[0]], [entry.defaultClasses], entry.name)
            XCTAssertEqual(graph.nodes[graph.inputIndices[0]].op, .input(shape: entry.defaultInput), entry.name)
            XCTAssertEqual(graph.metadata["model"], entry.name, "the graph's metadata names its zoo model")
        }
    }

    /// The six rows of issue 3's table, with the options spelled out.
    func testIssueTableCounts() throws {
        func count(_ name: String, _ options: ZooOptions) throws -> Int {
            try Zoo.build(name, options: options).trainableParameterCount()
        }
        XCTAssertEqual(try count("resnet18", ZooOptions(classes: 1000, input: [3, 224, 224], withParameters: false)), 11_689_512)
        XCTAssertEqual(try count("resnet50", ZooOptions(classes: 1000, input: [3, 224, 224], withParameters: false)), 25_557_032)
        XCTAssertEqual(try count("mobilenet_v2", ZooOptions(classes: 1000, input: [3, 224, 224], withParameters: false)), 3_504_872)
        XCTAssertEqual(try count("resnet18-cifar", ZooOptions(classes: 10, input: [3, 32, 32], withParameters: false)), 11_173_962)
        XCTAssertEqual(try count("resnet50-cifar", ZooOptions(classes: 10, input: [3, 32, 32], withParameters: false)), 23_520_842)
        XCTAssertEqual(try count("smallcnn", ZooOptions(classes: 10, input: [1, 28, 28])), 225_034)
    }

    // MARK: State-dict names

    /// State-dict names of modules in order: a conv or linear (`weight`, and `bias` when it
    /// has one) or a batch norm (five entries).
    private enum Module {
        case conv(String), convWithBias(String), batchNorm(String)
        var names: [String] {
            switch self {
            case let .conv(m): return ["\(m).weight"]
            case let .convWithBias(m): return ["\(m).weight", "\(m).bias"]
            case let .batchNorm(m): return ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"].map { "\(m).\($0)" }
            }
        }
    }

    private func stateDictNames(_ name: String) throws -> [String] {
        try Zoo.build(name, options: ZooOptions(withParameters: false)).parameterSpecs().map(\.name)
    }

    private func shapes(_ name: String, options: ZooOptions = ZooOptions(withParameters: false)) throws -> [String: Shape] {
        Dictionary(uniqueKeysWithValues: try Zoo.build(name, options: options).parameterSpecs().map { ($0.name, $0.spec.shape) })
    }

    func testResNet18StateDictIsTorchvisions() throws {
        var modules: [Module] = [.conv("conv1"), .batchNorm("bn1")]
        for layer in 1...4 {
            for block in 0..<2 {
                let p = "layer\(layer).\(block)"
                modules += [.conv("\(p).conv1"), .batchNorm("\(p).bn1"), .conv("\(p).conv2"), .batchNorm("\(p).bn2")]
                if layer > 1 && block == 0 { modules += [.conv("\(p).downsample.0"), .batchNorm("\(p).downsample.1")] }
            }
        }
        modules.append(.convWithBias("fc"))
        let expected = modules.flatMap(\.names)
        XCTAssertEqual(expected.count, 122)
        XCTAssertEqual(try stateDictNames("resnet18"), expected)
        XCTAssertEqual(try stateDictNames("resnet18-cifar"), expected)
        let resnet18 = try shapes("resnet18"), cifar = try shapes("resnet18-cifar")
        XCTAssertEqual(resnet18["conv1.weight"], [64, 3, 7, 7])
        XCTAssertEqual(cifar["conv1.weight"], [64, 3, 3, 3])
        XCTAssertEqual(cifar["fc.weight"], [10, 512])
        XCTAssertEqual(try shapes("resnet18", options: ZooOptions(input: [1, 64, 64], withParameters: false))["conv1.weight"],
                       [64, 1, 7, 7], "input channels come from the input shape")

        let resnet50 = try stateDictNames("resnet50")
        XCTAssertEqual(Array(resnet50.prefix(7)), ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean",
                                                   "bn1.running_var", "bn1.num_batches_tracked", "layer1.0.conv1.weight"])
        XCTAssertEqual(Array(resnet50.suffix(3)), ["layer4.2.bn3.num_batches_tracked", "fc.weight", "fc.bias"])
        XCTAssertEqual(try shapes("resnet50")["layer1.0.downsample.0.weight"], [256, 64, 1, 1])
    }

    func testMobileNetV2StateDictIsTorchvisions() throws {
        var modules: [Module] = [.conv("features.0.0"), .batchNorm("features.0.1"),
                                 .conv("features.1.conv.0.0"), .batchNorm("features.1.conv.0.1"),
                                 .conv("features.1.conv.1"), .batchNorm("features.1.conv.2")]
        for index in 2...17 {
            let p = "features.\(index).conv"
            modules += [.conv("\(p).0.0"), .batchNorm("\(p).0.1"), .conv("\(p).1.0"), .batchNorm("\(p).1.1"),
                        .conv("\(p).2"), .batchNorm("\(p).3")]
        }
        modules += [.conv("features.18.0"), .batchNorm("features.18.1"), .convWithBias("classifier.1")]
        let expected = modules.flatMap(\.names)
        XCTAssertEqual(expected.count, 314)
        XCTAssertEqual(try stateDictNames("mobilenet_v2"), expected)
        XCTAssertEqual(try stateDictNames("mobilenet_v2-cifar"), expected)
        let s = try shapes("mobilenet_v2")
        XCTAssertEqual(s["features.17.conv.2.weight"], [320, 960, 1, 1])
        XCTAssertEqual(s["features.18.0.weight"], [1280, 320, 1, 1])
        XCTAssertEqual(s["classifier.1.weight"], [1000, 1280])
    }

    func testMobileNetV2WidthMultiplierIsTorchvisions() throws {
        // torchvision mobilenet_v2(width_mult=0.5): 1,968,680; width_mult=1.4: 6,108,776.
        let half = try Zoo.build("mobilenet_v2", options: ZooOptions(widthMultiplier: 0.5, withParameters: false))
        XCTAssertEqual(try half.trainableParameterCount(), 1_968_680)
        let s = try shapes("mobilenet_v2", options: ZooOptions(widthMultiplier: 0.5, withParameters: false))
        XCTAssertEqual(s["features.0.0.weight"], [16, 3, 3, 3])
        XCTAssertEqual(s["features.2.conv.2.weight"], [16, 48, 1, 1], "_make_divisible(24 * 0.5, 8) = 16")
        XCTAssertEqual(s["features.18.0.weight"], [1280, 160, 1, 1], "the last conv keeps 1280 below width 1")
        let wide = try Zoo.build("mobilenet_v2", options: ZooOptions(widthMultiplier: 1.4, withParameters: false))
        XCTAssertEqual(try wide.trainableParameterCount(), 6_108_776)
        XCTAssertEqual(makeDivisible(1280 * 1.4), 1792)
    }

    func testShuffleNetVGGAndSeedModelNames() throws {
        let shuffle = try stateDictNames("shufflenet_v2_x1_0")
        XCTAssertEqual(Array(shuffle.prefix(2)), ["conv1.0.weight", "conv1.1.weight"])
        XCTAssertEqual(Array(shuffle.suffix(2)), ["fc.weight", "fc.bias"])
        let s = try shapes("shufflenet_v2_x1_0")
        XCTAssertEqual(s["stage2.0.branch1.0.weight"], [24, 1, 3, 3])
        XCTAssertEqual(s["stage2.0.branch1.2.weight"], [58, 24, 1, 1])
        XCTAssertEqual(s["stage2.0.branch2.0.weight"], [58, 24, 1, 1])
        XCTAssertEqual(s["stage3.7.branch2.3.weight"], [116, 1, 3, 3])
        XCTAssertNil(s["stage3.1.branch1.0.weight"], "stride-1 units have no branch1")
        XCTAssertEqual(s["conv5.0.weight"], [1024, 464, 1, 1])
        XCTAssertEqual(try shapes("shufflenet_v2_x2_0")["conv5.0.weight"], [2048, 976, 1, 1])

        let vgg16 = try shapes("vgg16")
        XCTAssertEqual(vgg16["features.0.bias"], [64])
        XCTAssertEqual(vgg16["features.40.weight"], [512, 512, 3, 3], "the last conv of vgg16_bn")
        XCTAssertEqual(vgg16["features.41.running_var"], [512])
        XCTAssertEqual(vgg16["classifier.0.weight"], [4096, 25088])
        XCTAssertEqual(vgg16["classifier.3.weight"], [4096, 4096])
        XCTAssertEqual(vgg16["classifier.6.weight"], [1000, 4096])
        let vgg19 = try shapes("vgg19-cifar")
        XCTAssertEqual(vgg19["feature.49.weight"], [512, 512, 3, 3], "Network Slimming: no last max pool")
        XCTAssertNil(vgg19["feature.0.bias"], "Network Slimming's convs have no bias")
        XCTAssertEqual(vgg19["classifier.weight"], [10, 512])

        let student = try shapes("studentnet")
        XCTAssertEqual(student["cnn.0.0.weight"], [32, 3, 3, 3])
        XCTAssertEqual(student["cnn.2.0.weight"], [64, 1, 3, 3])
        XCTAssertEqual(student["cnn.7.3.weight"], [256, 256, 1, 1])
        XCTAssertEqual(student["fc.0.weight"], [11, 256])

        let slim = try shapes("resnet18-slim-b2")
        XCTAssertEqual(slim["conv1.weight"], [64, 3, 3, 3])
        XCTAssertEqual(slim["layer1.0.downsample.0.weight"], [128, 64, 1, 1], "Conv2d-10 of the seed's table")
        XCTAssertNil(slim["layer1.1.downsample.0.weight"])
        XCTAssertEqual(slim["layer3.1.conv2.weight"], [512, 512, 3, 3])
        XCTAssertEqual(try shapes("resnet20")["layer2.0.downsample.0.weight"], [32, 16, 1, 1])
    }

    /// The feature-map sizes the seeds' tables print.
    func testSeedModelsReproduceTheirTables() throws {
        func convShapes(_ name: String) throws -> [String: Shape] {
            let graph = try Zoo.build(name, options: ZooOptions(withParameters: false))
            let shapes = try graph.inferShapes()
            return Dictionary(uniqueKeysWithValues: graph.nodes.indices.map { (graph.nodes[$0].name, shapes[$0]) })
        }
        // seeds/000: Conv2d-1 [64, 228, 228], ResidualBlocks at 114, 57 and 29.
        let slim = try convShapes("resnet18-slim-b1")
        XCTAssertEqual(slim["conv1"], [64, 228, 228])
        XCTAssertEqual(slim["layer1.0.conv1"], [128, 114, 114])
        XCTAssertEqual(slim["layer2.0.downsample.0"], [256, 57, 57])
        XCTAssertEqual(slim["layer3.0.conv2"], [512, 29, 29])
        // seeds/003 StudentNet at 128x128: 64 after the stem, 4x4 at the end.
        let student = try convShapes("studentnet")
        XCTAssertEqual(student["cnn.0.0"], [32, 64, 64])
        XCTAssertEqual(student["cnn.7.3"], [256, 16, 16])
        // The CIFAR MobileNetV2 ends at 4x4.
        XCTAssertEqual(try convShapes("mobilenet_v2-cifar")["features.18.0"], [1280, 4, 4])
    }

    // MARK: Errors

    func testUnknownNameListsTheZoo() {
        XCTAssertThrowsError(try Zoo.build("resnet19")) { error in
            let text = String(describing: error)
            XCTAssertTrue(text.contains("'resnet19'"), text)
            for name in ["resnet18", "vgg16-cifar", "mobilenet_v2", "shufflenet_v2_x1_0", "studentnet", "smallcnn"] {
                XCTAssertTrue(text.contains(name), "\(name) missing from: \(text)")
            }
        }
    }

    func testInvalidOptionsNameTheModel() throws {
        func reason(_ name: String, _ options: ZooOptions, file: StaticString = #filePath,
                    line: UInt = #line) -> String {
            do {
                _ = try Zoo.build(name, options: options)
                XCTFail("\(name) built with \(options)", file: file, line: line)
                return ""
            } catch let error as ZooOptionError {
                XCTAssertEqual(error.model, name, file: file, line: line)
                XCTAssertTrue(error.description.hasPrefix("model '\(name)': "), error.description, file: file, line: line)
                return error.reason
            } catch {
                XCTFail("\(name): unexpected \(error)", file: file, line: line)
                return ""
            }
        }
        XCTAssertTrue(reason("resnet18", ZooOptions(widthMultiplier: 0.5)).contains("no width multiplier"))
        XCTAssertTrue(reason("mobilenet_v2", ZooOptions(widthMultiplier: -1)).contains("width multiplier"))
        XCTAssertTrue(reason("resnet20", ZooOptions(classes: 0)).contains("classes"))
        XCTAssertTrue(reason("resnet20", ZooOptions(input: [3, 0, 32])).contains("input"))
        XCTAssertTrue(reason("resnet20", ZooOptions(input: [32, 32])).contains("input"))
        XCTAssertTrue(reason("vgg16", ZooOptions(input: [3, 32, 32], withParameters: false)).contains("vgg16-cifar"))
        XCTAssertTrue(reason("vgg16-cifar", ZooOptions(input: [3, 64, 64], withParameters: false)).contains("512 features"))
        XCTAssertTrue(reason("vgg16-cifar", ZooOptions(input: [3, 16, 16], withParameters: false)).contains("512 features"))
        // Too small for the second conv: the node is named.
        XCTAssertTrue(reason("smallcnn", ZooOptions(input: [1, 4, 4])).contains("conv2"))
        // A width multiplier of 1 is every model's own width.
        XCTAssertNoThrow(try Zoo.build("resnet20", options: ZooOptions(widthMultiplier: 1, withParameters: false)))
        // Inputs whose feature map is a multiple of 7 pool exactly, as the adaptive pool does.
        let large = try Zoo.build("vgg11", options: ZooOptions(input: [3, 448, 448], withParameters: false))
        XCTAssertEqual(try large.trainableParameterCount(), 132_868_840)
        XCTAssertEqual(try large.inferShapes()[large.outputs[0]], [1000])
    }

    // MARK: Running

    /// The input and batch each model runs at in ``testEveryModelRunsForwardAndBackward()``:
    /// 32x32 (or the model's smaller default), batch 2; vgg's ImageNet form needs a 7x7
    /// feature map, so 224 at batch 1; the deepest CIFAR ResNets at batch 1.
    private func runInput(_ entry: ZooEntry) -> (input: Shape, batch: Int) {
        switch entry.name {
        case "vgg11", "vgg13", "vgg16", "vgg19": return (entry.defaultInput, 1)
        case "resnet101-cifar", "resnet152-cifar": return (entry.defaultInput, 1)
        default: return ([entry.defaultInput[0], min(entry.defaultInput[1], 32), min(entry.defaultInput[2], 32)], 2)
        }
    }

    func testEveryModelRunsForwardAndBackward() throws {
        var generator = SeededGenerator(seed: 3)
        for entry in Zoo.entries {
            let (input, batch) = runInput(entry)
            let structure = try Zoo.build(entry.name, options: ZooOptions(input: input, withParameters: false))
            let graph = try Self.withFastParameters(structure)
            let executor = try DNNLExecutor(graph: graph, batchSize: batch, mode: .training,
                                            configuration: ExecutorConfiguration(threads: 2))
            let x = Tensor.randomNormal(input.prepending(batch), generator: &generator)
            let outputs = try executor.forward([x])
            XCTAssertEqual(outputs.first?.shape, [batch, entry.defaultClasses], entry.name)
            XCTAssertTrue(outputs[0].floats.allSatisfy(\.isFinite), "\(entry.name): non-finite output")

            let seedGradient = Tensor.randomNormal(outputs[0].shape, generator: &generator)
            try executor.backward([seedGradient])
            let trainable = try graph.parameterSpecs().filter { $0.spec.role.isTrainable }
            XCTAssertEqual(Set(executor.parameterGradients.keys), Set(trainable.map(\.name)), entry.name)
            var nonZero = 0
            for (name, _, spec) in trainable {
                guard let gradient = executor.parameterGradients[name] else { continue }
                XCTAssertEqual(gradient.shape, spec.shape, "\(entry.name) \(name)")
                let sample = Self.strided(gradient.floats)
                XCTAssertTrue(sample.allSatisfy(\.isFinite), "\(entry.name) \(name): non-finite gradient")
                if sample.contains(where: { $0 != 0 }) { nonZero += 1 }
            }
            XCTAssertGreaterThan(nonZero, trainable.count / 2, "\(entry.name): most gradients are nonzero")
        }
    }

    /// The zoo's own initialisation (`withParameters: true`) on the small models.
    func testSmallModelsBuildWithTheirParameters() throws {
        for name in ["resnet20", "studentnet", "smallcnn", "shufflenet_v2_x0_5"] {
            let graph = try Zoo.build(name, options: ZooOptions(input: name == "shufflenet_v2_x0_5" ? [3, 32, 32] : nil, seed: 1))
            try graph.validate()
            XCTAssertEqual(try graph.trainableParameterCount(), Self.parameterCounts[name], name)
        }
    }

    /// Up to 4,096 evenly spaced elements (a debug build checks a billion values slowly).
    private static func strided(_ values: UnsafeMutableBufferPointer<Float>) -> [Float] {
        let step = max(1, values.count / 4096)
        return stride(from: 0, to: values.count, by: step).map { values[$0] }
    }

    /// Parameters for a structure-only graph, made cheaply. `Graph.initializeParameters`
    /// draws every value (about 0.3 µs each in a debug build: 20 s for resnet152, 25 s for a
    /// VGG); here each weight is windows of one seeded block of 4,099 uniform values in
    /// ±1/sqrt(fan-in), copied with memcpy, and batch norm starts as torchvision's
    /// (weight 1, bias 0, running mean 0, running variance 1).
    private static func withFastParameters(_ structure: Graph) throws -> Graph {
        var graph = structure
        var blocks: [Int: Tensor] = [:]  // by fan-in
        var generator = SeededGenerator(seed: 7)
        var offset = 0
        for (name, _, spec) in try graph.parameterSpecs() {
            switch spec.role {
            case .weight where spec.shape.rank >= 2:
                let fanIn = spec.shape.elementCount / spec.shape[0]
                let bound = 1 / Float(fanIn).squareRoot()
                let block = blocks[fanIn] ?? Tensor.randomUniform([4099], low: -bound, high: bound, generator: &generator)
                blocks[fanIn] = block
                let tensor = Tensor(zeros: spec.shape)
                let source = block.floats, destination = tensor.floats
                var written = 0
                while written < destination.count {
                    let start = offset % source.count
                    let count = min(source.count - start, destination.count - written)
                    UnsafeMutableRawPointer(destination.baseAddress! + written)
                        .copyMemory(from: source.baseAddress! + start, byteCount: count * MemoryLayout<Float>.size)
                    written += count
                    offset += count + 1  // the next window starts one further on
                }
                graph.parameters[name] = tensor
            case .weight, .runningVariance:
                graph.parameters[name] = Tensor(repeating: 1, shape: spec.shape)
            case .bias, .runningMean:
                graph.parameters[name] = Tensor(zeros: spec.shape)
            case .slope:
                graph.parameters[name] = Tensor(repeating: 0.25, shape: spec.shape)
            case .batchCount:
                graph.parameters[name] = Tensor(zeros: spec.shape, dtype: .i64)
            case .quantizedWeight, .weightScale:
                XCTFail("zoo models are not quantised: \(name)")
            }
        }
        try graph.validate()
        return graph
    }
}
