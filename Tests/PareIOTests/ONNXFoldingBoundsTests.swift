import Foundation
import PareCore
@testable import PareIO
import XCTest

/// Constant folding allocates no more than the file can justify (issue 16, bounds before
/// trust): a result may have at most max(2^20, the file's size in bytes) elements.
final class ONNXFoldingBoundsTests: XCTestCase {
    /// The pruned test model with a `ConstantOfShape` of `shape` whose output nothing reads.
    func model(constantOfShape shape: [Int]) throws -> Data {
        var editor = ModelEditor(try ONNXExport.modelProto(try prunedGraph(), options: ONNXExportOptions()))
        var node = Onnx_NodeProto()
        node.opType = "ConstantOfShape"
        node.name = "zeros"
        node.input = [editor.int64Constant("zeros.shape", shape)]
        node.output = ["zeros.out"]
        editor.model.graph.node.insert(node, at: 0)
        return try editor.model.serializedData()
    }

    func testSmallConstantOfShapeFolds() throws {
        XCTAssertNoThrow(try ONNXImport.graph(from: model(constantOfShape: [2, 4]), source: "small.onnx"))
    }

    /// A few hundred bytes asking for 2^26 elements (1 GiB of folded integers) are refused
    /// before anything is allocated, naming the file, the node and the count.
    func testConstantOfShapeBeyondTheFileIsRefused() throws {
        let data = try model(constantOfShape: [1 << 13, 1 << 13])
        XCTAssertLessThan(data.count, 1 << 20)
        XCTAssertThrowsError(try ONNXImport.graph(from: data, source: "crafted.onnx")) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("crafted.onnx"), message)
            XCTAssertTrue(message.contains("zeros"), message)
            XCTAssertTrue(message.contains("ConstantOfShape asks for 67108864 elements (shape [8192, 8192]), more than the 1048576"),
                          message)
        }
    }

    func testFoldLimitFollowsTheFileSize() {
        XCTAssertEqual(ConstantFolding.foldLimit(fileBytes: 100), 1 << 20)
        XCTAssertEqual(ConstantFolding.foldLimit(fileBytes: 50_000_000), 50_000_000)
        XCTAssertEqual(ConstantFolding.foldLimit(fileBytes: 1 << 40), ConstantFolding.maxFoldedElements)
    }
}
