#if canImport(Glibc)
import Glibc
#endif
import POSIX

/// What the thread serving a request knows about it: its id, when it started, and
/// where its time went. The transport begins and ends it; `Log` adds the id to
/// every line written meanwhile (S3, storage and curl lines included) so no call
/// site passes it by hand; the layers time their work with `measure`.
///
/// A request runs on one thread, so a thread-local is enough (work handed to
/// helper threads is not attributed).
public final class RequestContext {
    public enum Phase: Int, CaseIterable, Sendable {
        /// Verifying the token.
        case auth
        /// Reading the request body (uploads, settings).
        case body
        /// Storage calls (local disk or S3), each counted.
        case storage
        /// Outbound HTTP (S3, JWKS), each counted.
        case upstream

        var name: String {
            switch self {
            case .auth: "auth"
            case .body: "body"
            case .storage: "storage"
            case .upstream: "upstream"
            }
        }
    }

    /// A request slower than this is logged once at warning with `breakdown()`
    /// (`SLOW_REQUEST_SECONDS`; set once at start-up).
    nonisolated(unsafe) public static var slowRequestSeconds: Double = 5

    public private(set) var requestID: String = ""
    public private(set) var startedNanos: UInt64 = 0
    /// The index of the route template that matched (the router sets it; metrics
    /// label the request with it), nil while none has.
    public var route: Int?
    /// Per phase: nanoseconds, calls, and the depth of nested measures (a storage call
    /// that calls S3 twice through the service is timed once, by the outermost). One
    /// raw block, not three arrays: every element write of a class's array property
    /// is an exclusivity check (swift_beginAccess), 15 of them per request in `begin`
    /// alone (bench/results.md: metrics and context cost per settings GET).
    private let words = UnsafeMutablePointer<Int>.allocate(capacity: 3 * phaseCount)
    private static let phaseCount = Phase.allCases.count
    private var nanos: UnsafeMutablePointer<Int> { words }
    private var counts: UnsafeMutablePointer<Int> { words + Self.phaseCount }
    private var depth: UnsafeMutablePointer<Int> { words + 2 * Self.phaseCount }

    private init() { words.initialize(repeating: 0, count: 3 * Self.phaseCount) }
    deinit { words.deallocate() }

    private static let perThread = ThreadLocal { RequestContext() }

    /// The context of the request this thread is serving, if any.
    public static var current: RequestContext? {
        guard let context = perThread.existing else { return nil }
        return context.requestID.isEmpty ? nil : context
    }

    /// Starts a request on this thread (the context object is reused between requests).
    @discardableResult
    public static func begin(requestID: String) -> RequestContext {
        let context = perThread.value
        context.requestID = requestID
        context.startedNanos = monotonicNanos()
        context.route = nil
        context.words.update(repeating: 0, count: 3 * phaseCount)
        return context
    }

    /// The request is over: log lines on this thread no longer carry its id.
    public static func end() {
        current?.requestID = ""
    }

    /// Runs `work`, adding its time (and one call) to `phase` of the current request.
    @inline(__always)
    public static func measure<T, E: Error>(_ phase: Phase, _ work: () throws(E) -> T) throws(E) -> T {
        guard let context = current else { return try work() }
        let p = phase.rawValue
        context.depth[p] += 1
        let start = context.depth[p] == 1 ? monotonicNanos() : 0
        defer {
            context.depth[p] -= 1
            if context.depth[p] == 0 {
                context.nanos[p] &+= Int(truncatingIfNeeded: monotonicNanos() &- start)
                context.counts[p] += 1
            }
        }
        return try work()
    }

    /// A measure that cannot wrap a closure: `let span = RequestContext.span(.storage)`,
    /// then `defer { span.end() }`.
    public struct Span {
        let context: RequestContext?
        let phase: Int
        let start: UInt64

        public func end() {
            guard let context else { return }
            context.depth[phase] -= 1
            if context.depth[phase] == 0 {
                context.nanos[phase] &+= Int(truncatingIfNeeded: RequestContext.monotonicNanos() &- start)
                context.counts[phase] += 1
            }
        }
    }

    public static func span(_ phase: Phase) -> Span {
        guard let context = current else { return Span(context: nil, phase: 0, start: 0) }
        let p = phase.rawValue
        context.depth[p] += 1
        return Span(context: context, phase: p, start: context.depth[p] == 1 ? monotonicNanos() : 0)
    }

    public var elapsedSeconds: Double { Double(Self.monotonicNanos() &- startedNanos) / 1e9 }

    /// `auth_ms`, `body_ms`, `storage_calls`, `storage_ms`, … for a log line.
    public func breakdown() -> [(String, Any)] {
        var fields: [(String, Any)] = []
        for phase in Phase.allCases {
            let p = phase.rawValue
            if phase == .storage || phase == .upstream { fields.append((phase.name + "_calls", counts[p])) }
            fields.append((phase.name + "_ms", (Double(nanos[p]) / 1e3).rounded() / 1e3))
        }
        return fields
    }

    public static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
