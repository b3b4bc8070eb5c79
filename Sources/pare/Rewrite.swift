import ArgumentParser
import Foundation
import PareAnalysis
import PareCompress
import PareCore
import PareData
import PareIO
import PareModels

extension Pare {
    struct Rewrite: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace layers by cheaper ones (depthwise-separable, low-rank, grouped, smaller kernels, fewer blocks).",
            discussion: """
                Every rewrite is a graph-to-graph pass that initialises the new layers from the \
                old weights and reports, per replaced layer, parameters and MACs before and after \
                and the relative error ‖y_new − y_old‖/‖y_old‖ of the new layers against the old \
                one on seeded random input of its input shape. The result is an ordinary model \
                file: it trains, prunes, evaluates and exports like any other.

                Examples:
                  pare rewrite resnet18 --classes 11 --dwpw --dwpw-bn --skip conv1 --out small.safetensors
                  pare rewrite M.safetensors --svd --energy 0.9 --only 'layer4.*' --out m-svd.safetensors
                  pare rewrite resnet18 --tucker --rank 32 --kind conv3x3 --out r18-tucker.safetensors
                  pare rewrite resnet18 --grouped 4 --skip conv1 --out r18-g4.safetensors
                  pare rewrite M.safetensors --drop-blocks 2 --data fashion-mnist --out m-shallow.safetensors

                Rewrites:
                  --dwpw       k x k conv (k > 1, groups 1) -> depthwise k x k + pointwise 1x1
                               (per-channel rank-1 SVD); --dwpw-bn adds batch norm + ReLU between
                  --svd        linear / 1x1 conv -> two (in->r, r->out); k x k conv -> k x 1 + 1 x k
                  --tucker     k x k conv -> 1x1 (Cin->r_in) + k x k (r_in->r_out) + 1x1 (->Cout)
                  --grouped G  conv -> G-group conv + channel shuffle (block diagonal kept)
                  --kernel K   k x k conv -> K x K (central window, padding reduced)
                  --drop-block NAME / --drop-blocks N   remove identity-shortcut residual blocks

                Ranks of --svd and --tucker: --rank R, or --energy E (the smallest rank keeping \
                E of the squared singular values; default 0.9).

                Several rewrites in one command run in this order: drop-block, kernel, dwpw, \
                tucker, svd, grouped; a layer is factored once (svd does not split dwpw's new \
                pointwise convs). --only and --skip take node-name globs (`*` matches anything, \
                dots included), --kind layer kinds (conv2d, conv3x3, conv1x1, linear, depthwise, \
                grouped); a layer a rewrite cannot take is skipped with the reason, and is an \
                error only when --only names it exactly. --drop-blocks N removes the N blocks \
                whose removal alone costs the least accuracy on --validation-samples samples of \
                --data's training split (a seeded per-class sample; never its test split).
                """)

        @Argument(help: "Zoo model name or .safetensors model file.") var model: String
        @Flag(help: "Depthwise-separable: k x k convs to depthwise + pointwise.") var dwpw = false
        @Flag(name: .customLong("dwpw-bn"), help: "With --dwpw (implied): batch norm and ReLU between depthwise and pointwise.")
        var dwpwBatchNorm = false
        @Flag(help: "Low-rank SVD of linear, 1x1 and (spatially) k x k layers.") var svd = false
        @Flag(help: "Tucker-2 decomposition of k x k convs.") var tucker = false
        @Option(help: "Fixed rank of --svd and --tucker.") var rank: Int?
        @Option(help: "Kept singular-value energy of --svd and --tucker, in (0, 1] (default 0.9).") var energy: Double?
        @Option(name: .customLong("grouped"), help: ArgumentHelp("Grouped convolutions with this many groups, plus a channel shuffle.", valueName: "G"))
        var groups: Int?
        @Option(help: ArgumentHelp("Shrink larger kernels to K x K.", valueName: "K")) var kernel: Int?
        @Option(name: .customLong("drop-block"), help: ArgumentHelp("Remove this residual block (e.g. layer3.1); repeatable.", valueName: "name"))
        var dropBlock: [String] = []
        @Option(name: .customLong("drop-blocks"), help: ArgumentHelp("Remove the N blocks that cost the least accuracy on --data.", valueName: "N"))
        var dropBlocks: Int?
        @Option(help: "Data set for --drop-blocks: \(DatasetSpec.acceptedForms.joined(separator: ", ")).") var data: String?
        @Option(help: "Samples of --data that --drop-blocks evaluates on.") var validationSamples = 512
        @Option(help: ArgumentHelp("Only layers matching this glob; repeatable.", valueName: "pattern")) var only: [String] = []
        @Option(help: ArgumentHelp("Never layers matching this glob; repeatable.", valueName: "pattern")) var skip: [String] = []
        @Option(help: ArgumentHelp("Only layers of this kind (conv3x3, conv1x1, linear, ...); repeatable.", valueName: "kind"))
        var kind: [String] = []
        @Option(help: "Input shape CxHxW (default: the model's).") var input: String?
        @Option(help: "Classes of a zoo model (default: the model's).") var classes: Int?
        @Option(help: "Seed of a zoo model's weights and of the error measurement's input.") var seed: UInt64 = 0
        @Option(help: "Threads.") var threads = 2
        @Flag(help: "Do not measure the relative error of each replaced layer.") var noError = false
        @Option(help: ArgumentHelp("The rewritten model file to write.", valueName: "file.safetensors")) var out: String
        @Flag(help: "Print the result as JSON.") var json = false

        func validate() throws {
            let any = dwpw || dwpwBatchNorm || svd || tucker || groups != nil || kernel != nil || !dropBlock.isEmpty || dropBlocks != nil
            guard any else { throw ValidationError("give at least one rewrite: --dwpw, --svd, --tucker, --grouped, --kernel, --drop-block(s)") }
            if rank != nil && energy != nil { throw ValidationError("--rank and --energy both choose the rank: give one") }
            if (rank != nil || energy != nil) && !(svd || tucker) { throw ValidationError("--rank and --energy apply to --svd and --tucker") }
            if let rank, rank < 1 { throw ValidationError("--rank must be at least 1, got \(rank)") }
            if let energy, !(energy > 0 && energy <= 1) { throw ValidationError("--energy must be in (0, 1], got \(energy)") }
            if let groups, groups < 2 { throw ValidationError("--grouped needs at least 2 groups, got \(groups)") }
            if let kernel, kernel < 1 { throw ValidationError("--kernel must be at least 1, got \(kernel)") }
            if dropBlocks != nil && data == nil { throw ValidationError("--drop-blocks chooses blocks by accuracy: give --data") }
            if let dropBlocks, dropBlocks < 1 { throw ValidationError("--drop-blocks must be at least 1") }
            if threads < 1 { throw ValidationError("--threads must be positive") }
        }

        func run() throws {
            let reference = ModelReference(text: model)
            let sets = try data.map { try ImageFolderOptions.openTrainingAndTest($0, size: 224, skip: false, quiet: json) }
            let shape = try input.map(parseInputShape) ?? (reference.isFile ? nil : sets?.train.sampleShape)
            var graph = try reference.graph(input: shape, classes: reference.isFile ? nil : (sets?.train.classes ?? classes),
                                            withParameters: true, seed: seed)
            if graph.metadata["model"] == nil { graph.metadata["model"] = model }

            var pipeline = RewritePipeline()
            pipeline.dropBlocks = dropBlock
            pipeline.dropBlockCount = dropBlocks
            if let sets {
                let transforms: [any Transform] = [sets.spec.defaultNormalization]
                // Chosen on held-out training images (seeded, per class), never on the test set.
                let fraction = min(0.5, Double(validationSamples) / Double(max(sets.train.count, 1)))
                let held = ValidationSplit(sets.train, fraction: fraction, seed: seed, stratified: true).validation
                pipeline.validation = DropBlockRewrite.Validation(data: held, transforms: transforms,
                                                                  samples: validationSamples, batchSize: 64, threads: threads)
            }
            pipeline.kernelSize = kernel
            pipeline.depthwiseSeparable = dwpw || dwpwBatchNorm
            pipeline.depthwiseBatchNorm = dwpwBatchNorm
            pipeline.tucker = tucker
            pipeline.svd = svd
            pipeline.rank = rank.map { .fixed($0) } ?? .energy(energy ?? 0.9)
            pipeline.groups = groups
            pipeline.selection = RewriteSelection(only: only, skip: skip, kinds: kind)
            pipeline.measurement = RewriteMeasurement(measureError: !noError, seed: seed, threads: threads)
            let result: RewriteResult
            do {
                result = try pipeline.apply(to: graph)
            } catch let error as RewriteError {
                throw CommandError("\(error)")
            }
            var rewritten = result.graph
            rewritten.metadata["rewrite"] = CommandLine.arguments.dropFirst().joined(separator: " ")
            let url = URL(fileURLWithPath: out)
            try ModelFile.save(rewritten, to: url)

            let before = try ModelSummary(graph: graph), after = try ModelSummary(graph: rewritten)
            let totals = Totals(parametersBefore: before.trainableParameters, parametersAfter: after.trainableParameters,
                                macsBefore: before.operations.macs, macsAfter: after.operations.macs,
                                fileBytesBefore: try ModelFile.encodedByteCount(graph),
                                fileBytesAfter: (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0)
            if json {
                let report = Report(model: model, out: out, steps: pipeline.steps, records: result.records,
                                    skipped: result.skipped, totals: totals)
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
                return
            }
            printTable(result, totals: totals, steps: pipeline.steps)
        }

        struct Totals: Codable {
            var parametersBefore, parametersAfter, macsBefore, macsAfter, fileBytesBefore, fileBytesAfter: Int
        }

        struct Report: Codable {
            var model: String
            var out: String
            var steps: [String]
            var records: [RewriteRecord]
            var skipped: [SkippedLayer]
            var totals: Totals
        }

        func printTable(_ result: RewriteResult, totals: Totals, steps: [String]) {
            print("\(model): \(steps.joined(separator: ", then "))")
            let headers = ["rewrite", "layer", "from -> to", "params", "MACs", "rel. error"]
            let rows = result.records.map { r in
                [r.kind, r.node, r.detail,
                 "\(grouped(Double(r.parametersBefore))) -> \(grouped(Double(r.parametersAfter)))",
                 "\(grouped(Double(r.macsBefore))) -> \(grouped(Double(r.macsAfter)))",
                 r.relativeError.map { String(format: "%.4f", $0) } ?? "-"]
            }
            let widths = headers.indices.map { c in ([headers[c]] + rows.map { $0[c] }).map(\.count).max()! }
            func line(_ cells: [String]) -> String {
                cells.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                    .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
            }
            print(line(headers))
            for row in rows { print(line(row)) }
            if !result.skipped.isEmpty {
                print("\nskipped:")
                for s in result.skipped { print("  \(s.kind) \(s.node): \(s.reason)") }
            }
            func ratio(_ a: Int, _ b: Int) -> String { b > 0 ? String(format: "%.2fx", Double(a) / Double(b)) : "-" }
            print("""

                parameters \(grouped(Double(totals.parametersBefore))) -> \(grouped(Double(totals.parametersAfter))) \
                (\(ratio(totals.parametersBefore, totals.parametersAfter)) fewer), \
                MACs \(grouped(Double(totals.macsBefore))) -> \(grouped(Double(totals.macsAfter))) \
                (\(ratio(totals.macsBefore, totals.macsAfter))), \
                file \(grouped(Double(totals.fileBytesBefore))) -> \(grouped(Double(totals.fileBytesAfter))) bytes
                wrote \(out)
                """)
        }
    }
}
