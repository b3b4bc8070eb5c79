#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Counts what a repeated piece of work costs the process: wall time and minor page faults
/// (`getrusage`), so a steady-state training step can be shown to fault nothing in.
public struct ResourceProbe {
    public struct Measurement: Sendable, Codable {
        public var iterations: Int
        public var medianMilliseconds: Double
        public var minorFaultsPerIteration: Double
        public var majorFaultsPerIteration: Double
    }

    /// Runs `body` `warmup` times untimed, then `iterations` times measured.
    public static func measure(warmup: Int, iterations: Int, _ body: () throws -> Void) rethrows -> Measurement {
        for _ in 0..<warmup { try body() }
        var times: [Double] = []
        times.reserveCapacity(iterations)
        let before = usage()
        for _ in 0..<iterations {
            let start = monotonicClock()
            try body()
            times.append((monotonicClock() - start) * 1e3)
        }
        let after = usage()
        return Measurement(iterations: iterations, medianMilliseconds: median(times),
                           minorFaultsPerIteration: Double(after.minor - before.minor) / Double(max(iterations, 1)),
                           majorFaultsPerIteration: Double(after.major - before.major) / Double(max(iterations, 1)))
    }

    static func usage() -> (minor: Int, major: Int) {
        var u = rusage()
        #if canImport(Glibc)
        getrusage(RUSAGE_SELF.rawValue, &u)
        #else
        getrusage(RUSAGE_SELF, &u)
        #endif
        return (Int(u.ru_minflt), Int(u.ru_majflt))
    }
}
