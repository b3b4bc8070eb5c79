@testable import PareCore
import XCTest

/// The blocked channel shuffle against the plain one: the same permutation for both block
/// sizes (8, unrolled, and 16) and for nhwc (one block of every channel), several groups,
/// batches and odd planes, exactly.
final class BlockedChannelShuffleTests: XCTestCase {
    /// `[N, C, plane]` plain → `nChw{block}c`.
    private func blocked(_ plain: [Float], batch: Int, channels: Int, plane: Int, block: Int) -> [Float] {
        var result = [Float](repeating: .nan, count: plain.count)
        for n in 0..<batch { for c in 0..<channels { for p in 0..<plane {
            result[n * channels * plane + (c / block) * plane * block + p * block + c % block] = plain[(n * channels + c) * plane + p]
        } } }
        return result
    }

    func testMatchesThePlainShuffleExactly() {
        for (block, channels, groups) in [(8, 16, 2), (8, 24, 3), (8, 32, 4), (8, 16, 8), (16, 32, 2), (16, 48, 4),
                                            (12, 12, 3), (24, 24, 4), (8, 8, 2)] {
            let (batch, plane) = (2, 7 * 5)
            let count = batch * channels * plane
            let x = (0..<count).map { Float($0) }
            var expected = [Float](repeating: 0, count: count)
            var actual = [Float](repeating: 0, count: count)
            x.withUnsafeBufferPointer { xp in expected.withUnsafeMutableBufferPointer { ep in
                channelShuffle(output: ep.baseAddress!, input: xp.baseAddress!, batch: batch, channels: channels, plane: plane, groups: groups)
            } }
            let xb = blocked(x, batch: batch, channels: channels, plane: plane, block: block)
            xb.withUnsafeBufferPointer { xp in actual.withUnsafeMutableBufferPointer { ap in
                channelShuffleBlocked(output: ap.baseAddress!, input: xp.baseAddress!, batch: batch, channels: channels,
                                      plane: plane, groups: groups, block: block)
            } }
            XCTAssertEqual(actual, blocked(expected, batch: batch, channels: channels, plane: plane, block: block),
                           "block \(block), \(channels) channels, \(groups) groups")
        }
    }
}
