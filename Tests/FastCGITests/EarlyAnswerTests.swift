import Foundation
import HTTP
import XCTest
@testable import FastCGI

/// Early answers and body deadlines through real libfcgi: the web server side is a
/// raw connection that sends part of a body and then stalls, as nginx does once it
/// has a response (it stops sending the body) or as a slowloris client does.
final class EarlyAnswerTests: XCTestCase {
    /// Records up to and including `bodyPrefix` of a body announced as `announced` bytes,
    /// without the closing empty stdin record: the rest "never comes".
    func stalledRequest(method: String = "POST", uri: String = "/api/v1/save_recording_details",
                        announced: Int, bodyPrefix: Int) -> RecordStream {
        var stream = RecordStream()
        stream.begin()
        stream.params([("REQUEST_METHOD", method), ("REQUEST_URI", uri), ("CONTENT_LENGTH", String(announced))])
        stream.stdin([UInt8].pattern(count: bodyPrefix), end: false)
        return stream
    }

    func testEarlyAnswerArrivesAtOnceAndTheConnectionIsClosedWithoutTheBody() throws {
        let server = try TestServer(responder: ClosureResponder { _ in HTTPError(.unauthorized, "no token").response })
        defer { server.shutdown() }
        let connection = try server.connect()
        let started = Date()
        connection.send(stalledRequest(announced: 100_000_000, bodyPrefix: 1024).bytes)
        let reply = connection.readReply()
        XCTAssertTrue(reply.ended, "FCGI_END_REQUEST must come before the body does")
        XCTAssertEqual(reply.status, 401)
        XCTAssertLessThan(Date().timeIntervalSince(started), 1.0)
        // Nothing more comes: the responder stops discarding after its idle limit and
        // closes, well before the 2 s discard window would end.
        var byte: UInt8 = 0
        let n = read(connection.fd, &byte, 1)
        XCTAssertEqual(n, 0, "the connection is closed after the bounded discard")
        XCTAssertLessThan(Date().timeIntervalSince(started), UnreadBodyDiscard.standard.maxSeconds)
        // The thread is free again.
        XCTAssertEqual(try server.exchange(requestRecords()).status, 401)
    }

    func testEarlyAnswerWhileTheBodyKeepsComingDiscardsAtMostTheBoundThenCuts() throws {
        let server = try TestServer(threads: 1, responder: ClosureResponder { _ in HTTPError(.methodNotAllowed, "no").response })
        defer { server.shutdown() }
        let connection = try server.connect()
        connection.send(stalledRequest(announced: 50_000_000, bodyPrefix: 0).bytes)
        let reply = connection.readReply()
        XCTAssertTrue(reply.ended)
        XCTAssertEqual(reply.status, 405)
        // Keep sending body records; the responder must stop taking them after ~1 MiB.
        var record = RecordStream()
        record.stdin([UInt8](repeating: 7, count: 60_000), end: false)
        var sent = 0
        var nonblocking = fcntl(connection.fd, F_GETFL)
        nonblocking |= O_NONBLOCK
        _ = fcntl(connection.fd, F_SETFL, nonblocking)
        let started = Date()
        while Date().timeIntervalSince(started) < 6 {
            let written = record.bytes.withUnsafeBytes { write(connection.fd, $0.baseAddress, $0.count) }
            if written > 0 { sent += written; continue }
            if errno == EAGAIN { usleep(10_000); continue }
            break // EPIPE / ECONNRESET: the responder closed the connection
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), UnreadBodyDiscard.standard.maxSeconds + 2)
        // What the responder took plus socket buffers: far from the 50 MB announced.
        XCTAssertLessThan(sent, 8 << 20)
        XCTAssertEqual(try server.exchange(requestRecords()).status, 405)
    }

    func testASlowBodyIsCutOffByTheDeadlineWith408() throws {
        let deadline = BodyDeadline(graceSeconds: 1, minimumBytesPerSecond: 1 << 20, maxSeconds: 60)
        let server = try TestServer(bodyDeadline: deadline, responder: ClosureResponder { request in
            do {
                _ = try request.body.readAll(limit: 1 << 30)
                return .text("read it all")
            } catch let error as HTTPError {
                return error.response
            } catch {
                return HTTPError(.internalServerError, "unexpected").response
            }
        })
        defer { server.shutdown() }
        let connection = try server.connect()
        let started = Date()
        connection.send(stalledRequest(announced: 100_000, bodyPrefix: 1024).bytes)
        let reply = connection.readReply()
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertTrue(reply.ended)
        XCTAssertEqual(reply.status, 408)
        XCTAssertEqual(reply.headers["cache-control"], "no-store")
        XCTAssertGreaterThanOrEqual(elapsed, 0.9, "not before the grace period")
        XCTAssertLessThan(elapsed, 3.5)
    }

    func testABodyThatKeepsUpWithTheRateIsNotCutOff() throws {
        // 1 s grace and 64 KiB/s: 192 KiB sent in 64 KiB pieces every 0.5 s stays
        // ahead of the deadline (grace + received / rate) all along.
        let deadline = BodyDeadline(graceSeconds: 1, minimumBytesPerSecond: 64 * 1024, maxSeconds: 60)
        let server = try TestServer(bodyDeadline: deadline, responder: ClosureResponder { request in
            do {
                return .text(String(try request.body.readAll(limit: 1 << 30).count))
            } catch {
                return (error as? HTTPError)?.response ?? HTTPError(.internalServerError, "unexpected").response
            }
        })
        defer { server.shutdown() }
        let connection = try server.connect()
        connection.send(stalledRequest(announced: 3 * 65_536, bodyPrefix: 0).bytes)
        for _ in 0..<3 {
            var piece = RecordStream()
            piece.stdin([UInt8](repeating: 1, count: 65_536), end: false)
            connection.send(piece.bytes)
            usleep(500_000)
        }
        var end = RecordStream()
        end.stdin([], end: true)
        connection.send(end.bytes)
        let reply = connection.readReply()
        XCTAssertEqual(reply.status, 200)
        XCTAssertEqual(reply.bodyText, String(3 * 65_536))
    }

    func testEveryAPIResponseIsPrivateWhateverProducedIt() throws {
        let server = try TestServer(responder: ClosureResponder { request in
            if request.rawPath.hasSuffix("/error") { return HTTPError(.notFound, "no").response }
            var headers = Headers()
            headers.set("Cache-Control", "public, max-age=600")
            return Response(headers: headers, body: .bytes(Array("x".utf8)))
        })
        defer { server.shutdown() }
        for path in ["/api/v1/user_recordings/alice", "/api/v1/error", "/api/v1"] {
            let reply = try server.exchange(requestRecords(uri: path))
            XCTAssertEqual(reply.headers["cache-control"], "no-store", path)
            XCTAssertEqual(reply.headers["x-content-type-options"], "nosniff", path)
        }
        let outside = try server.exchange(requestRecords(uri: "/healthz"))
        XCTAssertEqual(outside.headers["cache-control"], "public, max-age=600")
    }

    func testDeadlineAllowance() {
        let deadline = BodyDeadline(graceSeconds: 10, minimumBytesPerSecond: 1000, maxSeconds: 100)
        XCTAssertEqual(deadline.allowance(afterReceiving: 0), 10)
        XCTAssertEqual(deadline.allowance(afterReceiving: 5000), 15)
        XCTAssertEqual(deadline.allowance(afterReceiving: 10_000_000), 100, "capped by maxSeconds")
        let noRate = BodyDeadline(graceSeconds: 10, minimumBytesPerSecond: 0, maxSeconds: 100)
        XCTAssertEqual(noRate.allowance(afterReceiving: 0), 100)
    }
}
