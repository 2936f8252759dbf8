/// How long one request's body may take to arrive, so a client that trickles its
/// body (a slowloris upload, even with a valid token) cannot hold a responder
/// thread for long: the body may take `graceSeconds` plus one second for every
/// `minimumBytesPerSecond` bytes already received, and never more than `maxSeconds`.
public struct BodyDeadline: Sendable, Equatable {
    public var graceSeconds: Double
    /// 0: no rate floor, only `maxSeconds`.
    public var minimumBytesPerSecond: Int64
    public var maxSeconds: Double

    public init(graceSeconds: Double, minimumBytesPerSecond: Int64, maxSeconds: Double) {
        self.graceSeconds = max(0, graceSeconds)
        self.minimumBytesPerSecond = max(0, minimumBytesPerSecond)
        self.maxSeconds = max(0, maxSeconds)
    }

    /// 30 s, then at least 8 KiB/s on average, at most an hour: a 512 MiB upload at
    /// 150 KiB/s fits; a body trickling a byte a second is cut off after ~30 s.
    public static let standard = BodyDeadline(graceSeconds: 30, minimumBytesPerSecond: 8 * 1024, maxSeconds: 3600)

    /// Seconds since the request started that the body may take, `bytes` received so far.
    public func allowance(afterReceiving bytes: Int64) -> Double {
        guard minimumBytesPerSecond > 0 else { return maxSeconds }
        return min(maxSeconds, graceSeconds + Double(bytes) / Double(minimumBytesPerSecond))
    }
}

/// What happens to the rest of a body the response did not need (an early 401, 405,
/// 413, ...). nginx stops sending a body once it has finished with the response, and
/// keeps the connection open while its client still sends (measured: nginx 1.22 with
/// `fastcgi_request_buffering off`), so reading to EOF would wait for bytes that
/// never come. Instead the request is ended first, then what is still on its way is
/// read until the body ends, `idleSeconds` pass without a byte (nginx has stopped),
/// or `maxBytes` or `maxSeconds` in all; then the connection is closed.
///
/// Cutting while nginx still sends fails its next write, and if that comes before it
/// has relayed the answer, the client gets nginx's HTML page or a truncated body. It
/// does keep sending for a while after reading the answer (its client-body handler
/// writes on until the upstream request is finalized): 1.2 MB were seen on a loaded
/// 2-core machine, so `maxBytes` is far above that; it and `maxSeconds` only bound
/// what a refused upload can cost.
public struct UnreadBodyDiscard: Sendable, Equatable {
    public var maxBytes: Int64
    public var maxSeconds: Double
    public var idleSeconds: Double

    public init(maxBytes: Int64, maxSeconds: Double, idleSeconds: Double) {
        self.maxBytes = maxBytes
        self.maxSeconds = maxSeconds
        self.idleSeconds = min(idleSeconds, maxSeconds)
    }

    public static let standard = UnreadBodyDiscard(maxBytes: 64 << 20, maxSeconds: 2, idleSeconds: 0.1)
}
