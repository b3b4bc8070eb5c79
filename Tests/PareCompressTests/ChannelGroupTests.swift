import Foundation
import PareCore
import PareIO
import PareModels
import XCTest

@testable import PareCompress

/// The coupling rules, one op at a time, on graphs small enough to check by hand; then every
/// zoo model and every imported ONNX fixture.
final class ChannelGroupTests: XCTestCase {
    /// The group whose producers include `name`.
    private func group(_ analysis: ChannelAnalysis, producedBy name: String) throws -> ChannelGroup {
        try XCTUnwrap(analysis.groups.first { $0.producers.contains(name) }, "no group made by \(name)")
    }

    private func members(_ group: ChannelGroup) -> [String] {
        group.members.map { "\($0.node):\($0.role.rawValue):\($0.count)@\($0.offset)" }
    }

    func testConvolutionCouplesBatchNormActivationsPoolingAndTheNextConvolutionsInput() throws {
        var b = GraphBuilder()
        var x = b.input([3, 16, 16])
        x = b.conv2d(x, "conv1", outChannels: 8, kernelSize: 3, padding: 1, bias: false)
        x = b.maxPool(b.relu(b.batchNorm(x, "bn1")), kernelSize: 2)
        x = b.dropout(x, probability: 0.1)
        x = b.conv2d(x, "conv2", outChannels: 16, kernelSize: 3, padding: 1, bias: true)
        x = b.linear(b.flatten(b.globalAvgPool(x)), "fc", outFeatures: 10)
        let analysis = try ChannelAnalysis(try b.buildWithoutParameters(outputs: [x]))
        let g = try group(analysis, producedBy: "conv1")
        XCTAssertEqual(g.units, 8)
        XCTAssertTrue(g.prunable)
        XCTAssertEqual(g.producers, ["conv1"])
        XCTAssertEqual(members(g), ["conv1:out-channels:8@0", "bn1:bn-channels:8@0", "relu_3:activation:8@0",
                                    "maxPool_4:activation:8@0", "dropout_5:activation:8@0", "conv2:in-channels:8@0"])
        let g2 = try group(analysis, producedBy: "conv2")
        XCTAssertEqual(members(g2), ["conv2:out-channels:16@0", "globalAvgPool_7:activation:16@0",
                                     "flatten_8:activation:16@0", "fc:in-features:16@0"])
        let input = try XCTUnwrap(analysis.groups.first { $0.members.first?.role == .input })
        XCTAssertFalse(input.prunable)
        XCTAssertTrue(input.reason!.contains("graph input"), input.reason!)
        let output = try group(analysis, producedBy: "fc")
        XCTAssertFalse(output.prunable)
        XCTAssertTrue(output.reason!.contains("model output 'fc'"), output.reason!)
        XCTAssertTrue(g.description.contains("conv2"), g.description)
    }

    func testAddJoinsTheResidualStageIntoOneGroup() throws {
        let analysis = try ChannelAnalysis(try Zoo.build("resnet18-cifar", options: ZooOptions(withParameters: false)))
        let stage1 = try group(analysis, producedBy: "conv1")
        XCTAssertEqual(Set(stage1.producers), ["conv1", "layer1.0.conv2", "layer1.1.conv2"])
        XCTAssertEqual(stage1.units, 64)
        let readers = stage1.members.filter { $0.role == .inputChannels }.map(\.node)
        XCTAssertEqual(Set(readers), ["layer1.0.conv1", "layer1.1.conv1", "layer2.0.conv1", "layer2.0.downsample.0"])
        let stage4 = try group(analysis, producedBy: "layer4.0.downsample.0")
        XCTAssertEqual(Set(stage4.producers), ["layer4.0.conv2", "layer4.0.downsample.0", "layer4.1.conv2"])
        XCTAssertTrue(stage4.members.contains { $0.node == "fc" && $0.role == .inputFeatures && $0.count == 512 })
        let inner = try group(analysis, producedBy: "layer2.1.conv1")
        XCTAssertEqual(inner.producers, ["layer2.1.conv1"])
        XCTAssertEqual(inner.units, 128)
    }

    /// A squeeze-and-excitation `mul` joins the gate's channels (made by `se.fc2`) with the
    /// activation's, like a residual add; the squeeze width is a group of its own; a
    /// per-channel PReLU's slopes are members, a shared one's are not sliced.
    func testMulJoinsTheGateWithTheActivationAndPReLUSlopesAreMembers() throws {
        var b = GraphBuilder()
        var x = b.input([3, 8, 8])
        x = b.prelu(b.batchNorm(b.conv2d(x, "expand", outChannels: 6, kernelSize: 1, bias: false), "expand_bn"), "expand_act")
        x = b.conv2d(x, "dw", outChannels: 6, kernelSize: 3, padding: 1, groups: 6, bias: false)
        let squeezed = b.relu(b.conv2d(b.globalAvgPool(x), "se.fc1", outChannels: 2, kernelSize: 1))
        x = b.mul(x, b.hardSigmoid(b.conv2d(squeezed, "se.fc2", outChannels: 6, kernelSize: 1)))
        x = b.prelu(b.conv2d(x, "project", outChannels: 4, kernelSize: 1), "project_act", perChannel: false)
        x = b.linear(b.flatten(b.globalAvgPool(x)), "fc", outFeatures: 3)
        let analysis = try ChannelAnalysis(try b.buildWithoutParameters(outputs: [x]))
        let g = try group(analysis, producedBy: "expand")
        XCTAssertEqual(Set(g.producers), ["expand", "se.fc2"])
        XCTAssertEqual(g.units, 6)
        XCTAssertTrue(g.prunable)
        XCTAssertEqual(members(g), ["expand:out-channels:6@0", "expand_bn:bn-channels:6@0", "expand_act:slopes:6@0",
                                    "dw:depthwise:6@0", "globalAvgPool_5:activation:6@0", "se.fc1:in-channels:6@0",
                                    "se.fc2:out-channels:6@0", "hardSigmoid_9:activation:6@0", "mul_10:activation:6@0",
                                    "project:in-channels:6@0"])
        let squeeze = try group(analysis, producedBy: "se.fc1")
        XCTAssertEqual(squeeze.producers, ["se.fc1"])
        XCTAssertEqual(squeeze.units, 2)
        let projected = try group(analysis, producedBy: "project")
        XCTAssertTrue(projected.members.contains { $0.node == "project_act" && $0.role == .activation }, "\(members(projected))")
    }

    /// In torchvision's mobilenet_v3_small the first block has no expand conv: its depthwise
    /// conv carries the stem's channels to the SE gate, so the stem conv and the gate's
    /// `fc2` make one group; an expanded block's group is its expand conv and its `fc2`.
    func testMobileNetV3GroupsThroughItsSqueezeExcitationGates() throws {
        let analysis = try ChannelAnalysis(try Zoo.build("mobilenet_v3_small", options: ZooOptions(withParameters: false)))
        let stem = try group(analysis, producedBy: "features.0.0")
        XCTAssertEqual(Set(stem.producers), ["features.0.0", "features.1.block.1.fc2"])
        XCTAssertEqual(stem.units, 16)
        XCTAssertTrue(stem.prunable)
        XCTAssertTrue(stem.members.contains { $0.node == "features.1.block.1.fc1" && $0.role == .inputChannels })
        XCTAssertTrue(stem.members.contains { $0.node == "features.1.block.2.0" && $0.role == .inputChannels })
        let expanded = try group(analysis, producedBy: "features.4.block.0.0")
        XCTAssertEqual(Set(expanded.producers), ["features.4.block.0.0", "features.4.block.2.fc2"])
        XCTAssertEqual(expanded.units, 96)
        XCTAssertTrue(expanded.members.contains { $0.op == "mul" })
        let squeeze = try group(analysis, producedBy: "features.4.block.2.fc1")
        XCTAssertEqual(squeeze.units, 24)
        XCTAssertEqual(squeeze.producers, ["features.4.block.2.fc1"])
    }

    /// Local response norm normalises each channel by its neighbours: its group is not
    /// prunable; padding passes channels through.
    func testLocalResponseNormIsNeverPrunedAndPaddingPassesThrough() throws {
        var b = GraphBuilder()
        var x = b.conv2d(b.input([3, 8, 8]), "conv1", outChannels: 6, kernelSize: 3, bias: false)
        x = b.localResponseNorm(b.relu(x), size: 5)
        x = b.conv2d(x, "conv2", outChannels: 4, kernelSize: 1)
        x = b.pad(b.relu(x), Padding2d(1), mode: .reflect)
        x = b.conv2d(x, "conv3", outChannels: 4, kernelSize: 3)
        let analysis = try ChannelAnalysis(try b.buildWithoutParameters(outputs: [x]))
        let normalised = try group(analysis, producedBy: "conv1")
        XCTAssertFalse(normalised.prunable)
        XCTAssertTrue(normalised.reason!.contains("local response norm"), normalised.reason!)
        let padded = try group(analysis, producedBy: "conv2")
        XCTAssertTrue(padded.prunable)
        XCTAssertTrue(padded.members.contains { $0.op == "pad" && $0.role == .activation })
        XCTAssertTrue(padded.members.contains { $0.node == "conv3" && $0.role == .inputChannels })
    }

    func testConcatStacksSpacesAtOffsetsAndSliceTakesAWindow() throws {
        var b = GraphBuilder()
        let x = b.input([3, 8, 8])
        let a = b.relu(b.conv2d(x, "a", outChannels: 4, kernelSize: 1))
        let c = b.relu(b.conv2d(x, "c", outChannels: 6, kernelSize: 1))
        let cat = b.concat([a, c])
        let window = b.channelSlice(cat, start: 2, count: 5)
        let y = b.conv2d(window, "after", outChannels: 8, kernelSize: 1)
        let z = b.conv2d(cat, "reader", outChannels: 8, kernelSize: 1)
        let sum = b.add(y, z)
        let analysis = try ChannelAnalysis(try b.buildWithoutParameters(outputs: [sum]))
        let ga = try group(analysis, producedBy: "a"), gc = try group(analysis, producedBy: "c")
        XCTAssertEqual(ga.units, 4)
        XCTAssertEqual(gc.units, 6)
        let concat = analysis.graph.nodes.first { $0.op.kind == "concat" }!.name
        XCTAssertTrue(members(ga).contains("\(concat):activation:4@0"), "\(members(ga))")
        XCTAssertTrue(members(gc).contains("\(concat):activation:6@4"), "\(members(gc))")
        XCTAssertTrue(members(ga).contains("reader:in-channels:4@0"))
        XCTAssertTrue(members(gc).contains("reader:in-channels:6@4"))
        // The window [2, 7) holds a's channels 2, 3 and c's channels 0, 1, 2.
        XCTAssertTrue(members(ga).contains("after:in-channels:2@0"), "\(members(ga))")
        XCTAssertTrue(members(gc).contains("after:in-channels:3@2"), "\(members(gc))")
    }

    func testDepthwisePassesItsInputThroughAndGroupedConvolutionKeepsGroupsEqual() throws {
        var b = GraphBuilder()
        var x = b.input([3, 8, 8])
        x = b.conv2d(x, "stem", outChannels: 8, kernelSize: 1)
        let dw = b.conv2d(x, "dw", outChannels: 16, kernelSize: 3, padding: 1, groups: 8)  // multiplier 2
        let grouped = b.conv2d(dw, "grouped", outChannels: 12, kernelSize: 1, groups: 4)
        let out = b.conv2d(grouped, "out", outChannels: 2, kernelSize: 1)
        let analysis = try ChannelAnalysis(try b.buildWithoutParameters(outputs: [out]))
        let stem = try group(analysis, producedBy: "stem")
        // stem's 8 channels each carry the depthwise conv's 2 outputs; the grouped conv reads
        // 4 per group (16 / 4), position j of every group being one unit: stem channel c goes
        // with 2c and 2c+1 of dw, and positions join channels c, c+2, c+4, c+6.
        XCTAssertEqual(stem.units, 2)
        XCTAssertTrue(members(stem).contains("dw:depthwise:16@0"), "\(members(stem))")
        XCTAssertTrue(members(stem).contains("grouped:in-channels:16@0"))
        let grouped1 = try group(analysis, producedBy: "grouped")
        XCTAssertEqual(grouped1.units, 3, "12 outputs in 4 groups of 3: position j of every group is one unit")
        XCTAssertEqual(analysis.unitSlots[grouped1.id][1].map { analysis.location(of: $0).channel }, [1, 4, 7, 10])
    }

    func testChannelShuffleCouplesThroughItsPermutation() throws {
        var b = GraphBuilder()
        var x = b.input([3, 8, 8])
        x = b.conv2d(x, "conv", outChannels: 6, kernelSize: 1)
        let shuffled = b.channelShuffle(x, groups: 2)
        let out = b.conv2d(shuffled, "next", outChannels: 4, kernelSize: 1)
        let analysis = try ChannelAnalysis(try b.buildWithoutParameters(outputs: [out]))
        let g = try group(analysis, producedBy: "conv")
        XCTAssertEqual(g.units, 3, "6 channels in 2 shuffle groups: position j of both groups is one unit")
        let shuffle = analysis.graph.nodes.firstIndex { $0.op.kind == "channelShuffle" }!
        // Unit j holds conv channels j and 3 + j, which the shuffle puts at 2j and 2j + 1.
        for j in 0..<3 {
            let slots = analysis.unitSlots[g.id][j].map(analysis.location(of:))
            XCTAssertEqual(slots.filter { $0.node == 1 }.map(\.channel).sorted(), [j, 3 + j])
            XCTAssertEqual(slots.filter { $0.node == shuffle }.map(\.channel).sorted(), [2 * j, 2 * j + 1])
        }
    }

    func testFlattenMapsEachChannelToItsHWFeatures() throws {
        var b = GraphBuilder()
        var x = b.input([1, 6, 6])
        x = b.maxPool(b.relu(b.conv2d(x, "conv", outChannels: 4, kernelSize: 3)), kernelSize: 2)  // 4x2x2
        x = b.linear(b.flatten(x), "fc1", outFeatures: 7)
        x = b.linear(b.relu(x), "fc2", outFeatures: 3)
        let analysis = try ChannelAnalysis(try b.buildWithoutParameters(outputs: [x]))
        let g = try group(analysis, producedBy: "conv")
        XCTAssertEqual(g.units, 4)
        XCTAssertTrue(members(g).contains("fc1:in-features:16@0"), "\(members(g))")
        let fc1 = analysis.graph.nodes.firstIndex { $0.name == "fc1" }!
        let flatten = analysis.graph.nodes[fc1].inputs[0]
        XCTAssertEqual(analysis.unitSlots[g.id][2].map(analysis.location(of:)).filter { $0.node == flatten }.map(\.channel),
                       [8, 9, 10, 11])
        let hidden = try group(analysis, producedBy: "fc1")
        XCTAssertTrue(hidden.prunable)
        XCTAssertEqual(hidden.units, 7)
        XCTAssertTrue(members(hidden).contains("fc2:in-features:7@0"))
    }

    func testSoftmaxIsNeverPruned() throws {
        var b = GraphBuilder()
        var x = b.input([4])
        x = b.linear(x, "fc1", outFeatures: 6)
        let s = b.softmax(x)
        x = b.linear(s, "fc2", outFeatures: 2)
        let analysis = try ChannelAnalysis(try b.buildWithoutParameters(outputs: [x]))
        let g = try group(analysis, producedBy: "fc1")
        XCTAssertFalse(g.prunable)
        XCTAssertTrue(g.reason!.contains("softmax"), g.reason!)
    }

    func testEveryZooModelGroupsAndEncodes() throws {
        for entry in Zoo.entries {
            let graph = try entry.build(ZooOptions(withParameters: false))
            let analysis = try ChannelAnalysis(graph)
            XCTAssertFalse(analysis.groups.isEmpty, entry.name)
            XCTAssertTrue(analysis.groups.contains { $0.prunable }, "\(entry.name) has something to prune")
            // Every slot is in exactly one unit.
            let slots = analysis.unitSlots.joined().joined()
            XCTAssertEqual(slots.count, analysis.slotCount, entry.name)
            XCTAssertEqual(Set(slots).count, analysis.slotCount, entry.name)
            let json = try JSONEncoder().encode(analysis.groups)
            XCTAssertEqual(try JSONDecoder().decode([ChannelGroup].self, from: json).count, analysis.groups.count)
        }
    }

    func testEveryImportedONNXFixtureGroups() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../PareIOTests/Fixtures/onnx").standardized
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".onnx") }
        XCTAssertGreaterThanOrEqual(files.count, 5)
        for file in files {
            let graph = try ONNXImport.read(from: folder.appendingPathComponent(file))
            let analysis = try ChannelAnalysis(graph)
            XCTAssertTrue(analysis.groups.contains { $0.prunable }, file)
        }
    }
}
