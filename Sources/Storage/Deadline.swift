#if canImport(Glibc)
import Glibc
#endif
import POSIX

/// The time a request's storage work must be done by: one budget for the whole
/// request (a save, a read), set once where the request starts and met by every
/// store call it makes, however many calls and retries that takes. Calls made with
/// no deadline set (the CLI, tests) have only their own per-call timeouts.
///
/// Kept in a thread-local: a request runs on one thread, and the stores read it
/// without every signature passing it along.
public struct Deadline: Sendable, Equatable {
    /// Seconds on the monotonic clock.
    public let at: Double

    public init(secondsFromNow seconds: Double) { at = Self.now() + seconds }

    /// Seconds left; negative once passed.
    public var remaining: Double { at - Self.now() }
    public var passed: Bool { remaining <= 0 }

    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    final class Box { var deadline: Deadline?; init(_ d: Deadline?) { deadline = d } }

    private static let perThread = ThreadLocal { Box(nil) }
    private static var box: Box { perThread.value }

    /// The deadline of the request running on this thread, if any.
    public static var current: Deadline? { box.deadline }

    /// Runs `body` with `deadline` as the current one; a deadline already set that
    /// is earlier stays (a budget is never extended by a nested call).
    public static func with<T>(_ deadline: Deadline, _ body: () throws -> T) rethrows -> T {
        let b = box
        let saved = b.deadline
        if let saved, saved.at <= deadline.at {
            return try body()
        }
        b.deadline = deadline
        defer { b.deadline = saved }
        return try body()
    }

    /// Runs `body` with a fresh budget of its own, replacing the current one: for
    /// the few calls that must still be made once a budget is spent (reading back
    /// an ambiguous commit, removing what a failed save wrote).
    public static func replacing<T>(_ deadline: Deadline?, _ body: () throws -> T) rethrows -> T {
        let b = box
        let saved = b.deadline
        b.deadline = deadline
        defer { b.deadline = saved }
        return try body()
    }
}
