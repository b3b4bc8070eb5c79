import ArgumentParser

@main
struct Pare: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pare",
        abstract: "Make convolutional networks small and fast.",
        subcommands: [Demo.self, Train.self, Eval.self, ZooCommand.self, Summary.self, Bench.self, BenchKernels.self,
                      Export.self, Import.self, Run.self, Prune.self, Distill.self, Rewrite.self, Quantize.self, Compare.self,
                      Sensitivity.self, Compress.self, ReportCommand.self])
}
