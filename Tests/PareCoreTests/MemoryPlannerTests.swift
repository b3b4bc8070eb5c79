@testable import PareCore
import XCTest

final class MemoryPlannerTests: XCTestCase {
    typealias Request = MemoryPlanner.Request

    /// No two buffers alive at the same step may overlap in memory.
    func assertNoConflicts(_ requests: [Request], _ offsets: [Int], file: StaticString = #filePath, line: UInt = #line) {
        for a in requests.indices {
            XCTAssertEqual(offsets[a] % MemoryPlanner.alignment, 0, "buffer \(a) misaligned", file: file, line: line)
            for b in requests.indices where b > a {
                let timeOverlap = requests[a].firstStep <= requests[b].lastStep && requests[b].firstStep <= requests[a].lastStep
                let memoryOverlap = offsets[a] < offsets[b] + requests[b].bytes && offsets[b] < offsets[a] + requests[a].bytes
                XCTAssertFalse(timeOverlap && memoryOverlap, "buffers \(a) and \(b) collide", file: file, line: line)
            }
        }
    }

    func testDisjointLifetimesShareMemory() {
        let requests = [Request(bytes: 1000, firstStep: 0, lastStep: 1), Request(bytes: 1000, firstStep: 2, lastStep: 3),
                        Request(bytes: 500, firstStep: 4, lastStep: 5)]
        let plan = MemoryPlanner.plan(requests)
        assertNoConflicts(requests, plan.offsets)
        XCTAssertEqual(plan.arenaBytes, MemoryPlanner.align(1000))
    }

    func testOverlappingLifetimesGetSeparateMemory() {
        let requests = [Request(bytes: 100, firstStep: 0, lastStep: 2), Request(bytes: 100, firstStep: 2, lastStep: 3)]
        let plan = MemoryPlanner.plan(requests)
        assertNoConflicts(requests, plan.offsets)
        XCTAssertEqual(plan.arenaBytes, 2 * MemoryPlanner.align(100))
    }

    func testRandomRequestsNeverCollide() {
        var generator = SeededGenerator(seed: 5)
        let requests = (0..<200).map { _ -> Request in
            let first = Int(generator.next() % 50)
            return Request(bytes: 1 + Int(generator.next() % 5000), firstStep: first, lastStep: first + Int(generator.next() % 10))
        }
        let plan = MemoryPlanner.plan(requests)
        assertNoConflicts(requests, plan.offsets)
        XCTAssertLessThan(plan.arenaBytes, requests.reduce(0) { $0 + MemoryPlanner.align($1.bytes) })
    }
}
