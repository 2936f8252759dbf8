/// How often and how patiently a failed S3 request is tried again: only connection
/// failures, 5xx and 503 SlowDown; never another 4xx. Delays grow exponentially with
/// full jitter, so many workers retrying at once spread out.
public struct RetryPolicy: Sendable {
    /// Attempts in all, the first included.
    public var maxAttempts: Int
    /// Seconds; the ceiling of the first retry's delay.
    public var baseDelay: Double
    /// Seconds; no delay is longer.
    public var maxDelay: Double

    public init(maxAttempts: Int = 4, baseDelay: Double = 0.2, maxDelay: Double = 5) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// Delay before attempt `attempt + 1` (attempt counts from 1).
    func delay(after attempt: Int) -> Double {
        let ceiling = min(maxDelay, baseDelay * Double(1 << min(attempt - 1, 20)))
        return Double.random(in: 0...max(0, ceiling))
    }

    static func isRetryable(status: Int) -> Bool { status >= 500 }
}
