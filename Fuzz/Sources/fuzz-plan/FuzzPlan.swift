import Foundation
import FuzzSupport
import PareCompress
import PareCore
import PareModels

/// The model the plans are applied to: tiny-residual (residual add, grouped and depthwise
/// convolutions, channel shuffle, linear), 8x8 input.
let analysis = try! ChannelAnalysis(tinyResidualNet(input: [3, 8, 8], classes: 4))

/// A pruning plan (`plan.json`, `pare prune --plan`): decoded, checked against the model's
/// channel groups, and when it fits, applied.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPlan(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let url = FuzzFile.write(start, count, suffix: ".json")
    guard let plan = try? PruningPlan.read(from: url), (try? plan.check(against: analysis)) != nil else { return 0 }
    if let pruned = try? ChannelSurgery.apply(plan, analysis: analysis) {
        precondition((try? pruned.validate()) != nil, "surgery made an invalid graph")
    }
    return 0
}
