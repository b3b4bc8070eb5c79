import ArgumentParser
import Foundation
import PareAnalysis
import PareModels

extension Pare {
    struct ZooCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "zoo",
            abstract: "List the zoo's models with their default input, classes, parameters and MACs.",
            discussion: """
                MACs are those of conv and linear layers (fvcore's count) for one sample at the \
                model's default input; `pare summary MODEL` shows every layer and total.
                """)

        @Flag(help: "Print JSON instead of a table.") var json = false

        /// One model of the listing.
        struct Row: Encodable {
            var name: String
            var summary: String
            var input: [Int]
            var classes: Int
            var parameters: Int
            var macs: Int
            var thop: Int
        }

        func run() throws {
            let rows = try Zoo.entries.map { entry in
                let graph = try entry.build(ZooOptions(withParameters: false))
                let summary = try ModelSummary(graph: graph)
                return Row(name: entry.name, summary: entry.summary, input: entry.defaultInput.dimensions,
                           classes: entry.defaultClasses, parameters: summary.totalParameters,
                           macs: summary.operations.macs, thop: summary.operations.thop)
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(rows), as: UTF8.self))
                return
            }
            let nameWidth = max(5, rows.map(\.name.count).max() ?? 0)
            print("model".padding(toLength: nameWidth, withPad: " ", startingAt: 0)
                  + "  input        classes      parameters   MACs (conv+linear)  description")
            for row in rows {
                let input = row.input.map(String.init).joined(separator: "x")
                print(row.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  "
                      + input.padding(toLength: 11, withPad: " ", startingAt: 0)
                      + String(format: "%9d", row.classes)
                      + leftPadded(groupedDigits(row.parameters), 16)
                      + leftPadded(groupedDigits(row.macs), 21) + "  " + row.summary)
            }
            print("MACs: one sample at the default input, conv and linear layers only; FLOPs are 2 x MACs.")
        }
    }
}

/// `text` right-aligned in `width` columns.
private func leftPadded(_ text: String, _ width: Int) -> String {
    String(repeating: " ", count: max(0, width - text.count)) + text
}
