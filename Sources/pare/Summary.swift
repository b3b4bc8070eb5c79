import ArgumentParser
import Foundation
import PareAnalysis
import PareCore
import PareIO

extension Pare {
    struct Summary: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a model's layers, parameters, sizes, MACs and FLOPs.",
            discussion: """
                MODEL is a zoo name (see `pare zoo`) or a native .safetensors model file. The table \
                is torchsummary's (layer, output shape, parameters) with a MACs column; the totals \
                are torchsummary's sizes, MACs of conv and linear layers (fvcore's count), FLOPs \
                (2 x MACs), thop's total, and the size of the model's native file. Each total says \
                what it counts.
                """)

        @Argument(help: "A zoo model name or a .safetensors model file.") var model: String
        @Option(help: "Per-sample input shape CxHxW, e.g. 3x224x224 (default: the model's).",
                transform: parseInputShape)
        var input: Shape?
        @Option(help: "Classes of a zoo model (default: the model's).") var classes: Int?
        @Option(help: "Batch size the sizes and operation counts are for.") var batch = 1
        @Flag(help: "Print JSON instead of a table.") var json = false

        func validate() throws {
            guard batch > 0 else { throw ValidationError("--batch must be positive") }
            if let classes, classes <= 0 { throw ValidationError("--classes must be positive") }
        }

        func run() throws {
            let graph = try ModelReference(text: model).graph(input: input, classes: classes, withParameters: false)
            let summary = try ModelSummary(graph: graph, batch: batch,
                                           nativeFileBytes: try ModelFile.encodedByteCount(graph))
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(summary), as: UTF8.self))
            } else {
                print(summary.table())
            }
        }
    }
}
