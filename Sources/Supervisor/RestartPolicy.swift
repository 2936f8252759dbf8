/// When to replace a worker that exited. A worker that dies is replaced at once;
/// one that keeps dying soon after start waits longer each time, so a broken
/// configuration or a crash at start-up does not turn into a busy loop.
public struct RestartPolicy: Sendable {
    /// A worker that lived at least this long resets its slot's failure count.
    public var stableAfter: Double = 5
    public var firstBackoff: Double = 0.25
    public var maxBackoff: Double = 10

    public init() {}

    /// - Parameters:
    ///   - crashed: killed by a signal or exited non-zero (a recycled or stopped worker exits 0).
    ///   - uptime: seconds the worker ran.
    ///   - recentFailures: the slot's count of quick failures so far; updated.
    /// - Returns: seconds to wait before starting the replacement.
    public func delay(crashed: Bool, uptime: Double, recentFailures: inout Int) -> Double {
        guard crashed, uptime < stableAfter else {
            recentFailures = 0
            return 0
        }
        recentFailures += 1
        if recentFailures == 1 { return 0 }
        var delay = firstBackoff
        for _ in 2..<recentFailures where delay < maxBackoff { delay *= 2 }
        return min(delay, maxBackoff)
    }
}
