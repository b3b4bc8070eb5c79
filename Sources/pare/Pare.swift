import ArgumentParser

@main
struct Pare: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pare",
        abstract: "Make convolutional networks small and fast.",
        subcommands: [Demo.self, BenchKernels.self, ZooCommand.self, Summary.self])
}
