#if canImport(Glibc)
import Glibc
#endif
import CFastCGI
import Diagnostics
import HTTP

/// Serves one accepted FastCGI request: parameters → `Request` → responder →
/// response on stdout; then the rest of the request body is read (libfcgi would
/// otherwise linger on close waiting for it) and one access-log line is written.
public struct Transport: Sendable {
    public let responder: Responder

    public init(responder: Responder) { self.responder = responder }

    func serve(_ fcgx: UnsafeMutablePointer<FCGX_Request>) {
        let started = ContinuousClock.now
        Metrics.requestStarted()
        let input = FCGXInput(fcgx.pointee.in)
        let request = FastCGIParameters(envp: fcgx.pointee.envp).makeRequest(body: input)
        let context = RequestContext.begin(requestID: request.requestID)
        defer { RequestContext.end() }
        let response = responder.respond(to: request)

        let output = FCGXOutput(fcgx.pointee.out)
        let sender = ResponseSender(output: output, request: request)
        let outcome = sender.send(response)
        output.flush()
        if outcome == .cutShort {
            // Without FCGI_END_REQUEST nginx reports the response as broken to the client.
            shutdown(fcgx.pointee.ipcFd, Int32(SHUT_RDWR))
        } else {
            _ = try? input.drain()
        }
        FCGX_Finish_r(fcgx)

        let elapsed = ContinuousClock.now - started
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        let duration = (milliseconds * 1000).rounded() / 1000
        Metrics.requestFinished(route: request.routeTemplateIndex ?? MetricCatalog.unmatchedRoute, method: request.method,
                                status: sender.status.rawValue, seconds: milliseconds / 1000, bodyBytes: input.bytesRead)
        let interruption: String? =
            outcome == .cutShort ? "response cut short"
            : outcome == .clientGone ? "client gone"
            : input.wasAborted ? "request body cut short" : nil
        var fields: [(String, Any)] = [
            ("request_id", request.requestID), ("method", request.method), ("path", request.rawPath),
            ("status", sender.status.rawValue), ("bytes_in", input.bytesRead), ("bytes_out", sender.bodyBytes),
            ("duration_ms", duration),
        ]
        if let interruption { fields.append(("interrupted", interruption)) }
        fields += RequestCounters.take().map { ($0.0, $0.1 as Any) }
        Log.emit(.info, "request", fields: fields)
        if milliseconds / 1000 > RequestContext.slowRequestSeconds {
            Metrics.slowRequest()
            Log.emit(.warning, "slow request", fields: [
                ("method", request.method), ("path", request.rawPath), ("status", sender.status.rawValue),
                ("duration_ms", duration), ("slow_request_seconds", RequestContext.slowRequestSeconds),
            ] + context.breakdown())
        }
    }
}
