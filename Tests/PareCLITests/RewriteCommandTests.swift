import Foundation
import PareCore
import PareIO
import XCTest

/// `pare rewrite` end to end: a rewritten file that reloads and matches the JSON report,
/// the table, and the errors of a selection that matches nothing.
final class RewriteCommandTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("pare-rewrite-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: scratch)
    }

    private func path(_ name: String) -> String { scratch.appendingPathComponent(name).path }

    func testRewritesReloadsAndReportsJSON() throws {
        let (status, output) = try runPare(["rewrite", "tiny-residual", "--dwpw", "--dwpw-bn", "--svd", "--rank", "2",
                                            "--skip", "conv1", "--out", path("t.safetensors"), "--json"])
        XCTAssertEqual(status, 0, output)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], output)
        XCTAssertEqual(report["steps"] as? [String], ["dwpw", "svd"])
        let records = try XCTUnwrap(report["records"] as? [[String: Any]])
        let dwpw = records.filter { $0["kind"] as? String == "dwpw" }.compactMap { $0["node"] as? String }
        XCTAssertEqual(dwpw, ["layer1.0.conv1", "layer1.0.conv2"])
        let svd = records.filter { $0["kind"] as? String == "svd" }.compactMap { $0["node"] as? String }
        XCTAssertEqual(svd, ["layer1.0.downsample.0", "fc"])
        XCTAssertTrue(records.allSatisfy { ($0["relativeError"] as? Double).map { $0 >= 0 } ?? false }, output)
        let skipped = try XCTUnwrap(report["skipped"] as? [[String: Any]])
        XCTAssertTrue(skipped.contains { $0["node"] as? String == "mix.depthwise" }, output)

        let graph = try ModelFile.load(from: scratch.appendingPathComponent("t.safetensors"))
        XCTAssertTrue(graph.nodes.contains { $0.name == "layer1.0.conv1.pointwise" })
        XCTAssertTrue(graph.nodes.contains { $0.name == "fc.expand" })
        XCTAssertEqual(graph.parameters["fc.reduce.weight"]?.shape, [2, 32])
        let totals = try XCTUnwrap(report["totals"] as? [String: Int])
        XCTAssertEqual(totals["parametersAfter"], try graph.trainableParameterCount())
        XCTAssertLessThan(totals["parametersAfter"]!, totals["parametersBefore"]!)
        let bytes = try FileManager.default.attributesOfItem(atPath: path("t.safetensors"))[.size] as? Int
        XCTAssertEqual(totals["fileBytesAfter"], bytes)
    }

    func testTableAndErrors() throws {
        var (status, output) = try runPare(["rewrite", "tiny-residual", "--grouped", "2", "--out", path("g.safetensors")])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("layer1.0.conv1"), output)
        XCTAssertTrue(output.contains("2 groups + shuffle"), output)
        XCTAssertTrue(output.contains("conv1: 3 input and 16 output channels are not both divisible by 2"), output)
        XCTAssertTrue(output.contains("parameters "), output)
        (status, output) = try runPare(["rewrite", "tiny-residual", "--dwpw", "--only", "layer9.*", "--out", path("n.safetensors")])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("dwpw: no layer matched --only 'layer9.*'"), output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("n.safetensors")))
        (status, output) = try runPare(["rewrite", "tiny-residual", "--out", path("n.safetensors")])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("give at least one rewrite"), output)
    }
}
