/// The points where an S3 request ends, is retried, or a save falls back: one call
/// each, so counters (metrics) hook in here and nowhere else.
public enum S3Events {
    public enum Outcome: String, Sendable {
        /// S3 answered (any answer the caller handles, 404 and 412 included).
        case answered
        /// S3 refused our credentials or signature (403).
        case refused
        /// No usable answer after the retries the budget allowed.
        case failed
        /// The request's budget was spent before an attempt could start.
        case deadline
        /// Not sent: the circuit breaker is open.
        case skipped
    }

    static func outcome(_ operation: String, _ outcome: Outcome) {}

    static func retry(_ operation: String) {}
}
