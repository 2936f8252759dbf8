import CProcess

/// This process's writer into the host metrics: a worker attaches once at
/// start-up (before its request threads exist) and every layer counts through
/// these calls. Unattached (tests, commands other than `serve`) every call is a no-op.
/// Each call is one to three relaxed atomic adds on this process's own slot.
public enum Metrics {
    nonisolated(unsafe) private static var region: HostMetrics?
    nonisolated(unsafe) private static var slot = 0
    nonisolated(unsafe) private static var counters: UnsafeMutablePointer<UInt64>?

    /// Called once, before any request thread starts.
    public static func attach(_ metrics: HostMetrics, slot: Int) {
        precondition(slot >= 0 && slot < metrics.slotCount, "metrics slot out of range")
        region = metrics
        self.slot = slot
        counters = metrics.counters(slot)
    }

    /// The region this process writes to (for the /metrics and /status pages).
    public static var host: HostMetrics? { region }

    @inline(__always) private static func bump(_ offset: Int, _ amount: UInt64 = 1) {
        guard let counters else { return }
        rs_atomic_add(counters + offset, amount)
    }

    // MARK: the request path

    /// A request thread took a request.
    public static func requestStarted() {
        guard let region else { return }
        let s = region.slotBase(slot)
        rs_atomic_add(s + HostMetrics.SlotWord.busy.rawValue, 1)
        rs_atomic_add(s + HostMetrics.SlotWord.requests.rawValue, 1)
        rs_atomic_add(counters! + HostMetrics.Counter.accepted, 1)
        let busy = rs_atomic_add(region.base + HostMetrics.Header.busyNow.rawValue, 1)
        rs_atomic_max(region.base + HostMetrics.Header.busyMax.rawValue, busy)
    }

    /// The request is answered: `route` is the router's template index (or
    /// `MetricCatalog.unmatchedRoute`).
    public static func requestFinished(route: Int, method: String, status: Int, seconds: Double, bodyBytes: Int64) {
        guard let region, let counters else { return }
        let s = region.slotBase(slot)
        rs_atomic_sub(s + HostMetrics.SlotWord.busy.rawValue, 1)
        rs_atomic_sub(region.base + HostMetrics.Header.busyNow.rawValue, 1)
        let r = (0..<MetricCatalog.unmatchedRoute).contains(route) ? route : MetricCatalog.unmatchedRoute
        let m = MetricCatalog.methodIndex(method)
        let series = r * MetricCatalog.methods.count + m
        rs_atomic_add(counters + HostMetrics.Counter.http + series * MetricCatalog.statusSlots + MetricCatalog.statusIndex(status), 1)
        let h = counters + HostMetrics.Counter.histogram + series * HostMetrics.Counter.histogramStride
        var bucket = 0
        let bounds = MetricCatalog.durationBuckets
        while bucket < bounds.count && seconds > bounds[bucket] { bucket += 1 }
        rs_atomic_add(h + bucket, 1)
        rs_atomic_add(h + bounds.count + 1, UInt64(max(0, seconds * 1e6)))
        if bodyBytes > 0 { rs_atomic_add(counters + HostMetrics.Counter.uploadBytes, UInt64(bodyBytes)) }
    }

    public static func slowRequest() { bump(HostMetrics.Counter.slowRequests) }

    // MARK: the layers below

    /// One S3 attempt (a retry is another attempt).
    public static func s3Attempt(_ operation: String, _ outcome: MetricCatalog.S3Outcome) {
        let op = MetricCatalog.s3OperationIndex(operation)
        bump(HostMetrics.Counter.s3Requests + op * MetricCatalog.S3Outcome.allCases.count + outcome.rawValue)
    }

    public static func s3Retry(_ operation: String) {
        bump(HostMetrics.Counter.s3Retries + MetricCatalog.s3OperationIndex(operation))
    }

    /// A save went to the fallback store because the active one was unavailable.
    public static func storageFallback() { bump(HostMetrics.Counter.storageFallbacks) }

    public static func tokenCache(hit: Bool) {
        bump(hit ? HostMetrics.Counter.tokenCacheHits : HostMetrics.Counter.tokenCacheMisses)
    }

    public static func jwksFetch(_ outcome: MetricCatalog.JWKSOutcome) {
        bump(HostMetrics.Counter.jwks + outcome.rawValue)
    }
}
