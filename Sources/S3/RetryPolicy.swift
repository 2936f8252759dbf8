import Foundation

/// How often and how patiently a failed S3 request is tried again: what AWS
/// documents as transient (`Transience`), never another 4xx. Delays grow
/// exponentially with full jitter, so many workers retrying at once spread out;
/// a `Retry-After` from the server is honoured instead. Retries also stop when the
/// request's budget (`Deadline`) could not cover the wait.
public struct RetryPolicy: Sendable {
    /// Attempts in all, the first included.
    public var maxAttempts: Int
    /// Seconds; the ceiling of the first retry's delay.
    public var baseDelay: Double
    /// Seconds; no delay is longer (a `Retry-After` included).
    public var maxDelay: Double

    public init(maxAttempts: Int = 4, baseDelay: Double = 0.2, maxDelay: Double = 5) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// Delay before attempt `attempt + 1` (attempt counts from 1): full jitter,
    /// uniform in 0...min(maxDelay, baseDelay × 2^(attempt-1)).
    func delay(after attempt: Int, random: (ClosedRange<Double>) -> Double = { Double.random(in: $0) }) -> Double {
        let ceiling = min(maxDelay, baseDelay * Double(1 << min(max(attempt - 1, 0), 20)))
        return random(0...max(0, ceiling))
    }

    /// The wait before the next attempt, or nil when there should be none: attempts
    /// used up, or the wait (and a minimal attempt after it) would not fit in what
    /// is left of the budget (`remaining`, nil when there is no budget).
    func wait(after attempt: Int, retryAfter: Double?, remaining: Double?,
              random: (ClosedRange<Double>) -> Double = { Double.random(in: $0) }) -> Double? {
        guard attempt < maxAttempts else { return nil }
        let delay = retryAfter.map { min(max($0, 0), maxDelay) } ?? self.delay(after: attempt, random: random)
        if let remaining, delay + Self.minimumAttemptSeconds > remaining { return nil }
        return delay
    }

    /// An attempt is not started with less than this left of the budget.
    static let minimumAttemptSeconds = 0.1
}

/// What AWS says may pass on a second try (its "retry" guidance for S3): 500, 502,
/// 503, 504, 429, `SlowDown` and other throttling codes, and 400 `RequestTimeout`
/// (the connection idled while the request was sent). A 200 whose body is an
/// `<Error>` (CompleteMultipartUpload) is judged by its code the same way.
public enum Transience {
    static let transientStatuses: Set<Int> = [500, 502, 503, 504, 429]
    static let transientCodes: Set<String> = ["SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable",
                                              "Throttling", "ThrottlingException", "RequestLimitExceeded",
                                              "TooManyRequestsException"]

    public static func isTransient(status: Int, code: String?) -> Bool {
        if transientStatuses.contains(status) { return true }
        if let code, transientCodes.contains(code) { return true }
        return false
    }

    /// `Retry-After` in seconds (delta-seconds only; S3 does not send dates).
    public static func retryAfter(_ value: String?) -> Double? {
        guard let value, let seconds = Double(value.trimmingCharacters(in: [" "])), seconds >= 0, seconds.isFinite else { return nil }
        return seconds
    }
}
