/// Places buffers with known lifetimes in one arena so that buffers whose lifetimes do not
/// overlap share memory (greedy by size, first fit), as TFLite's arena planner does.
///
/// A lifetime is the inclusive range of step indices during which the buffer is read or
/// written; two buffers live at the same step never overlap in memory.
struct MemoryPlanner {
    struct Request {
        var bytes: Int
        var firstStep: Int
        var lastStep: Int
    }

    static let alignment = 64

    /// Byte offsets, one per request, and the arena size they need.
    static func plan(_ requests: [Request]) -> (offsets: [Int], arenaBytes: Int) {
        let order = requests.indices.sorted {
            requests[$0].bytes != requests[$1].bytes ? requests[$0].bytes > requests[$1].bytes : $0 < $1
        }
        var offsets = [Int](repeating: 0, count: requests.count)
        var placed: [(offset: Int, end: Int, first: Int, last: Int)] = []
        var arenaBytes = 0
        for index in order {
            let request = requests[index]
            let size = align(max(request.bytes, 1))
            // Occupied address ranges of placed buffers whose lifetimes overlap this one.
            let conflicts = placed
                .filter { $0.first <= request.lastStep && request.firstStep <= $0.last }
                .sorted { $0.offset < $1.offset }
            var candidate = 0
            for conflict in conflicts {
                if candidate + size <= conflict.offset { break }
                candidate = max(candidate, conflict.end)
            }
            offsets[index] = candidate
            placed.append((candidate, candidate + size, request.firstStep, request.lastStep))
            arenaBytes = max(arenaBytes, candidate + size)
        }
        return (offsets, arenaBytes)
    }

    static func align(_ bytes: Int) -> Int { (bytes + alignment - 1) / alignment * alignment }
}
