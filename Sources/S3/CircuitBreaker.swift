import Diagnostics
import Storage
import Synchronization

/// One per process and bucket: after `threshold` S3 failures in a row (no answer,
/// a timeout, a transient 5xx) it opens, and for `coolDown` seconds S3 is not asked
/// at all — saves go straight to the local fallback, reads that need S3 get 503
/// with `Retry-After` at once — instead of every request spending its whole budget
/// on a server that is down. Then it lets one request through as a probe: its
/// success closes the breaker, its failure opens it for another cool-down.
///
/// Any answer from S3 that is not a server failure (a 404, a 412, a 403) counts as
/// success: S3 is there.
public final class CircuitBreaker: Sendable {
    public enum Admission: Equatable, Sendable {
        case allowed
        /// The one request let through after a cool-down; its outcome decides.
        case probe
        /// Do not ask S3; it may be worth asking again after this many seconds.
        case rejected(retryAfter: Int)
    }

    struct State {
        var failures = 0
        /// Monotonic seconds until which the breaker is open.
        var openUntil: Double?
        var probing = false
    }

    /// 0: never opens.
    public let threshold: Int
    public let coolDown: Double
    private let clock: @Sendable () -> Double
    private let state = Mutex(State())

    public init(threshold: Int, coolDown: Double, clock: @escaping @Sendable () -> Double = { Deadline.now() }) {
        self.threshold = max(0, threshold)
        self.coolDown = max(0, coolDown)
        self.clock = clock
    }

    public func admit() -> Admission {
        let now = clock()
        return state.withLock { s in
            guard let until = s.openUntil else { return .allowed }
            if now < until { return .rejected(retryAfter: max(1, Int((until - now).rounded(.up)))) }
            if s.probing { return .rejected(retryAfter: 1) }
            s.probing = true
            return .probe
        }
    }

    /// Whether requests are being refused right now (for `/readyz` and retry loops).
    public var isOpen: Bool {
        let now = clock()
        return state.withLock { s in s.openUntil.map { now < $0 || s.probing } ?? false }
    }

    /// The outcome of one attempt. `probe`: it was the probe `admit` let through.
    public func record(success: Bool, probe: Bool = false) {
        let now = clock()
        let change: String? = state.withLock { s in
            if success {
                let wasOpen = s.openUntil != nil
                s = State()
                return wasOpen ? "closed" : nil
            }
            s.failures += 1
            if probe {
                s.probing = false
                s.openUntil = now + coolDown
                return "reopened"
            }
            if threshold > 0, s.openUntil == nil, s.failures >= threshold {
                s.openUntil = now + coolDown
                return "opened"
            }
            return nil
        }
        if let change {
            // One line per change of state: where an operator sees the outage begin and end.
            Log.warning("S3 circuit breaker " + change, ["consecutive_failures": threshold, "cool_down_seconds": coolDown])
        }
    }

    /// A probe that ended before S3 answered anything (its budget was spent, a
    /// local error): the next request may probe instead.
    public func abandonProbe() {
        state.withLock { $0.probing = false }
    }
}
