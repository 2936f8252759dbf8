#if canImport(Glibc)
import Glibc
#endif
import CFastCGI
import Diagnostics
import HTTP

/// Serves one accepted FastCGI request: parameters → `Request` → responder →
/// response on stdout; then the request is ended and one access-log line written.
///
/// The body is read only as far as the responder reads it, within `bodyDeadline`.
/// A response that is complete before the body was read to its end (an early 401,
/// 405, 413, a 408 for a body that came too slowly) is ended at once with
/// FCGI_END_REQUEST, so nginx relays it without waiting; then at most
/// `unreadBodyDiscard` of the rest is read before the connection is closed. nginx
/// stops sending a body once it has the response, so reading to EOF would wait until
/// its fastcgi_read_timeout.
public struct Transport: Sendable {
    public let responder: Responder
    public let bodyDeadline: BodyDeadline
    public let unreadBodyDiscard: UnreadBodyDiscard

    public init(responder: Responder, bodyDeadline: BodyDeadline = .standard,
                unreadBodyDiscard: UnreadBodyDiscard = .standard) {
        self.responder = responder
        self.bodyDeadline = bodyDeadline
        self.unreadBodyDiscard = unreadBodyDiscard
    }

    func serve(_ fcgx: UnsafeMutablePointer<FCGX_Request>) {
        let started = ContinuousClock.now
        Metrics.requestStarted()
        let socket = fcgx.pointee.ipcFd
        let input = FCGXInput(fcgx.pointee.in, socket: socket, deadline: bodyDeadline, started: started)
        let request = FastCGIParameters(envp: fcgx.pointee.envp).makeRequest(body: input)
        let context = RequestContext.begin(requestID: request.requestID)
        defer { RequestContext.end() }
        let response = responder.respond(to: request)

        let output = FCGXOutput(socket: socket, requestID: fcgx.pointee.requestId, closingStream: fcgx.pointee.out)
        let sender = ResponseSender(output: output, request: request)
        let outcome = sender.send(response)
        output.flush()
        let bodyTimedOut = input.timedOut
        let bodyUnread = !input.atEnd
        if outcome == .cutShort {
            // Without FCGI_END_REQUEST nginx reports the response as broken to the client.
            shutdown(socket, Int32(SHUT_RDWR))
        } else if !input.atEnd {
            // End the request before touching the rest of the body: FCGI_END_REQUEST
            // (written when the last output stream closes) lets nginx finish the answer.
            FCGX_FClose(fcgx.pointee.err)
            FCGX_FClose(fcgx.pointee.out)
            if !input.discardRest(unreadBodyDiscard) {
                // libfcgi's close would linger reading whatever still comes: cut it,
                // once nginx has read the answer (`ResponseHandOver`).
                _ = ResponseHandOver.await(socket: socket,
                                           until: .now + .milliseconds(Int64(unreadBodyDiscard.maxSeconds * 1000)))
                shutdown(socket, Int32(SHUT_RDWR))
            }
        }
        if input.atEnd && outcome != .cutShort {
            // The whole input was read: nothing can arrive that a plain close would
            // answer with a reset, so skip libfcgi's lingering close (shutdown, then
            // poll until the web server closes: a blocked thread and a wake-up per
            // request, ~10 % of a settings GET's CPU in bench/results.md).
            fcgx.pointee.detached = 1
        }
        FCGX_Finish_r(fcgx)

        let elapsed = ContinuousClock.now - started
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        let duration = (milliseconds * 1000).rounded() / 1000
        Metrics.requestFinished(route: context.route ?? MetricCatalog.unmatchedRoute, method: request.method,
                                status: sender.status.rawValue, seconds: milliseconds / 1000, bodyBytes: input.bytesRead)
        let interruption: String? =
            outcome == .cutShort ? "response cut short"
            : outcome == .clientGone ? "client gone"
            : bodyTimedOut ? "request body too slow"
            : input.wasAborted ? "request body cut short" : nil
        var fields: [(String, LogValue)] = [
            ("request_id", .string(request.requestID)), ("method", .string(request.method)),
            ("path", .string(request.rawPath)), ("status", .int(Int(sender.status.rawValue))),
            ("bytes_in", .int(Int(input.bytesRead))), ("bytes_out", .int(Int(sender.bodyBytes))),
            ("duration_ms", .double(duration)),
        ]
        if let interruption { fields.append(("interrupted", .string(interruption))) }
        if bodyUnread && request.method != "GET" && request.method != "HEAD" { fields.append(("body_unread", .bool(true))) }
        for (name, count) in RequestCounters.take() { fields.append((name, .int(count))) }
        Log.emit(.info, "request", values: fields)
        if milliseconds / 1000 > RequestContext.slowRequestSeconds {
            Metrics.slowRequest()
            Log.emit(.warning, "slow request", fields: [
                ("method", request.method), ("path", request.rawPath), ("status", sender.status.rawValue),
                ("duration_ms", duration), ("slow_request_seconds", RequestContext.slowRequestSeconds),
            ] + context.breakdown())
        }
    }
}
