import Foundation
import PareCore

/// One node's share in a ``ChannelGroup``: which of its channels (or input channels) the
/// group cuts and in what role. Printed one per line, as Torch-Pruning prints a group.
public struct ChannelGroupMember: Codable, Hashable, Sendable {
    /// What removing the group's channels does to this node.
    public enum Role: String, Codable, Sendable {
        /// A graph input's channels (never pruned).
        case input
        /// Rows of a convolution's or linear layer's weight (and bias): the channels it makes.
        case outputChannels = "out-channels"
        /// Rows of a depthwise convolution, whose channels are its input's.
        case depthwise
        /// Batch-norm weight, bias and running statistics.
        case batchNorm = "bn-channels"
        /// A per-channel PReLU's slopes (its `weight`).
        case slopes
        /// Columns (axis 1) of a convolution's weight.
        case inputChannels = "in-channels"
        /// Columns of a linear layer's weight (after a flatten, H·W features per channel).
        case inputFeatures = "in-features"
        /// A node without parameters whose output carries the channels (activation, pooling,
        /// add, concat, slice, shuffle, flatten, dropout).
        case activation
    }

    /// The node's name (its state-dict prefix) and index.
    public var node: String
    public var index: Int
    /// The node's op kind.
    public var op: String
    public var role: Role
    /// How many of the node's channels (for in-channels and in-features: of its input's) are
    /// in the group, the first of them, and whether they are consecutive.
    public var count: Int
    public var offset: Int
    public var contiguous: Bool
}

/// A set of channel slots that must be removed together: removing unit `u` of the group
/// removes, in every member, the channels that unit stands for. A residual stage, its
/// shortcut and every block's last convolution are one group; a plain convolution followed
/// by a batch norm and read by the next convolution is another.
public struct ChannelGroup: Codable, Sendable {
    /// Position in ``ChannelAnalysis/groups`` (groups are ordered by their first producer).
    public var id: Int
    /// Channels that a ratio counts: the units the group can lose.
    public var units: Int
    /// Whether any unit may be removed; if not, ``reason`` says why.
    public var prunable: Bool
    public var reason: String?
    /// The nodes whose output channels the group removes (convolutions, linear layers).
    public var producers: [String]
    public var members: [ChannelGroupMember]

    /// Identifies the group across pruning steps (surgery keeps node names): its producers.
    public var key: String { producers.joined(separator: ",") }

    /// Members one per line, as `pare prune --show-groups` prints them.
    public var description: String {
        var head = "group \(id): \(units) channel\(units == 1 ? "" : "s")"
        if let first = members.first, first.count != units, first.count % units == 0 {
            head = "group \(id): \(units) units of \(first.count / units) channels of \(first.node)"
        }
        var lines = [head + (prunable ? "" : " (not prunable: \(reason ?? "fixed"))")]
        let nameWidth = min(40, members.map(\.node.count).max() ?? 0)
        for m in members {
            let range = m.contiguous ? "[\(m.offset), \(m.offset + m.count))" : "\(m.count) interleaved from \(m.offset)"
            lines.append("  " + m.node.padding(toLength: max(nameWidth, m.node.count), withPad: " ", startingAt: 0)
                         + "  " + m.op.padding(toLength: 15, withPad: " ", startingAt: 0)
                         + m.role.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0) + range)
        }
        return lines.joined(separator: "\n")
    }
}
