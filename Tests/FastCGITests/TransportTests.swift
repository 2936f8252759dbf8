import Foundation
import HTTP
import Synchronization
import XCTest
@testable import FastCGI

/// The transport through real libfcgi: records are built in memory and written to
/// the worker's socket exactly as split as each test wants.
final class TransportTests: XCTestCase {
    /// Answers with what it saw, reading the whole body.
    static let echo = ClosureResponder { request in
        var seen: [String: Any] = [
            "method": request.method, "path": request.rawPath, "query": request.rawQuery,
            "request_id": request.requestID,
            "authorization": request.headers["Authorization"] ?? NSNull(),
            "content_type": request.headers["Content-Type"] ?? NSNull(),
            "accel_prefix": request.serverParameters["RECSTORE_ACCEL_PREFIX"] ?? NSNull(),
        ]
        do {
            let body = try request.body.readAll(limit: 64 << 20)
            seen["body_bytes"] = body.count
            seen["body_fnv"] = String(body.fnv1a)
        } catch let error as HTTPError {
            return error.response
        } catch {
            return HTTPError(.internalServerError, "unexpected").response
        }
        return jsonResponse(seen)
    }

    func testParametersSplitAcrossRecordsAtEveryByte() throws {
        let server = try TestServer(responder: Self.echo)
        defer { server.shutdown() }
        let token = "Bearer " + String(repeating: "x", count: 300) // a 4-byte length encoding
        let records = requestRecords(uri: "/a/b%2Fc?x=1&y=2", extra: [
            ("HTTP_AUTHORIZATION", token), ("CONTENT_TYPE", "application/json"),
            ("REQUEST_ID", "abc-123"), ("RECSTORE_ACCEL_PREFIX", "/_files/"),
        ], paramsRecordSize: 1)
        let reply = try server.exchange(records)
        XCTAssertTrue(reply.ended)
        XCTAssertEqual(reply.status, 200)
        let seen = try XCTUnwrap(reply.json)
        XCTAssertEqual(seen["method"] as? String, "GET")
        XCTAssertEqual(seen["path"] as? String, "/a/b%2Fc")
        XCTAssertEqual(seen["query"] as? String, "x=1&y=2")
        XCTAssertEqual(seen["authorization"] as? String, token)
        XCTAssertEqual(seen["content_type"] as? String, "application/json")
        XCTAssertEqual(seen["request_id"] as? String, "abc-123")
        XCTAssertEqual(seen["accel_prefix"] as? String, "/_files/")
        XCTAssertEqual(reply.headers["x-request-id"], "abc-123")
    }

    func testParameterLargerThanLibfcgiBuffer() throws {
        let server = try TestServer(responder: Self.echo)
        defer { server.shutdown() }
        let token = "Bearer " + String(repeating: "t", count: 20_000)
        let reply = try server.exchange(requestRecords(extra: [("HTTP_AUTHORIZATION", token)], paramsRecordSize: 4093))
        XCTAssertEqual(try XCTUnwrap(reply.json)["authorization"] as? String, token)
    }

    func testEmptyBody() throws {
        let server = try TestServer(responder: Self.echo)
        defer { server.shutdown() }
        let reply = try server.exchange(requestRecords(method: "POST", uri: "/upload"))
        XCTAssertEqual(reply.status, 200)
        XCTAssertEqual(try XCTUnwrap(reply.json)["body_bytes"] as? Int, 0)
    }

    func testLargeBodyInFullRecords() throws {
        let server = try TestServer(responder: Self.echo)
        defer { server.shutdown() }
        let body = [UInt8].pattern(count: 3 << 20)
        let reply = try server.exchange(requestRecords(method: "POST", body: body))
        let seen = try XCTUnwrap(reply.json)
        XCTAssertEqual(seen["body_bytes"] as? Int, body.count)
        XCTAssertEqual(seen["body_fnv"] as? String, String(body.fnv1a))
    }

    func testBodyInManySmallRecordsAndFragments() throws {
        let server = try TestServer(responder: Self.echo)
        defer { server.shutdown() }
        let body = [UInt8].pattern(count: 60_000, seed: 7)
        var sizes = [1, 2, 3, 5, 8, 13, 7, 1].makeIterator()
        let records = requestRecords(method: "POST", body: body, stdinSizes: {
            if let n = sizes.next() { return n }
            sizes = [1, 2, 3, 5, 8, 13, 7, 1].makeIterator()
            return 4
        })
        // Written a few bytes at a time, so record headers themselves arrive split.
        let reply = try server.exchange(records, pieceSize: 3)
        let seen = try XCTUnwrap(reply.json)
        XCTAssertEqual(seen["body_bytes"] as? Int, body.count)
        XCTAssertEqual(seen["body_fnv"] as? String, String(body.fnv1a))
    }

    /// The body is not trusted to match CONTENT_LENGTH: it is read to EOF.
    func testBodyLongerThanContentLengthIsReadToEnd() throws {
        let server = try TestServer(responder: Self.echo)
        defer { server.shutdown() }
        var records = RecordStream()
        records.begin()
        records.params([("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/"), ("CONTENT_LENGTH", "3")])
        records.stdin(Array("0123456789".utf8))
        let reply = try server.exchange(records)
        XCTAssertEqual(try XCTUnwrap(reply.json)["body_bytes"] as? Int, 10)
    }

    func testClientGoneMidBodyIsA400ForTheHandlerAndTheWorkerGoesOn() throws {
        let outcomes = Mutex<[Int]>([])
        let recorder = ClosureResponder { request in
            let response = TransportTests.echo.respond(to: request)
            outcomes.withLock { $0.append(response.status.rawValue) }
            return response
        }
        let server = try TestServer(threads: 1, responder: recorder)
        defer { server.shutdown() }
        var records = RecordStream()
        records.begin()
        records.params([("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/"), ("CONTENT_LENGTH", "100000")])
        records.stdin([UInt8].pattern(count: 5000), end: false)
        let connection = try server.connect()
        connection.send(records.bytes)
        connection.closeWriting()
        let reply = connection.readReply()
        XCTAssertEqual(reply.status, 400)
        XCTAssertEqual(outcomes.withLock { $0 }, [400])

        let next = try server.exchange(requestRecords(uri: "/after"))
        XCTAssertEqual(next.status, 200)
        XCTAssertEqual(try XCTUnwrap(next.json)["path"] as? String, "/after")
    }

    func testAbortRecordMidBodyIsA400() throws {
        let server = try TestServer(threads: 1, responder: Self.echo)
        defer { server.shutdown() }
        var records = RecordStream()
        records.begin()
        records.params([("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/")])
        records.stdin([UInt8].pattern(count: 1000), end: false)
        records.abort()
        let reply = try server.exchange(records)
        XCTAssertEqual(reply.status, 400)
        XCTAssertNotNil(try XCTUnwrap(reply.json)["detail"] as? String)
        XCTAssertEqual(try server.exchange(requestRecords()).status, 200)
    }

    /// A handler that answers without reading the body (a 404, a 413): the request is
    /// ended at once and at most a bounded part of the body is discarded, so the
    /// exchange ends promptly and cleanly even when the client sends all of it.
    func testUnreadBodyIsDiscardedBoundedBeforeFinishing() throws {
        let server = try TestServer(responder: ClosureResponder { _ in .text("early") })
        defer { server.shutdown() }
        let records = requestRecords(method: "POST", body: [UInt8].pattern(count: 2 << 20)) // built before timing
        let started = Date()
        let reply = try server.exchange(records)
        XCTAssertTrue(reply.ended)
        XCTAssertEqual(reply.bodyText, "early")
        XCTAssertLessThan(Date().timeIntervalSince(started), 1.5)
    }

    func testHeadGetsHeadersButNoBody() throws {
        let server = try TestServer(responder: ClosureResponder { _ in .text("twelve bytes") })
        defer { server.shutdown() }
        let reply = try server.exchange(requestRecords(method: "HEAD"))
        XCTAssertEqual(reply.status, 200)
        XCTAssertEqual(reply.headers["content-length"], "12")
        XCTAssertEqual(reply.body, [])
    }

    func testFileBodyRangeIsSentInChunks() throws {
        let content = [UInt8].pattern(count: 300_000, seed: 3)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("body-\(UUID().uuidString)").path
        _ = FileManager.default.createFile(atPath: path, contents: Data(content))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let server = try TestServer(responder: ClosureResponder { _ in
            Response(status: .partialContent, body: .file(path: path, offset: 1000, length: 200_000))
        })
        defer { server.shutdown() }
        let reply = try server.exchange(requestRecords())
        XCTAssertEqual(reply.status, 206)
        XCTAssertEqual(reply.headers["content-length"], "200000")
        XCTAssertEqual(reply.body, Array(content[1000..<201_000]))
    }

    func testMissingFileIsA404NotA500() throws {
        let server = try TestServer(responder: ClosureResponder { _ in
            Response(body: .file(path: "/nonexistent/recstore-test", offset: 0, length: 10))
        })
        defer { server.shutdown() }
        XCTAssertEqual(try server.exchange(requestRecords()).status, 404)
    }

    func testStreamedBody() throws {
        let server = try TestServer(responder: ClosureResponder { _ in
            Response(headers: Headers([("Content-Type", "audio/wav")]), body: .stream { writer in
                for part in ["one,", "two,", "three"] {
                    try Array(part.utf8).withUnsafeBytes { try writer.write($0) }
                }
            })
        })
        defer { server.shutdown() }
        let reply = try server.exchange(requestRecords())
        XCTAssertEqual(reply.status, 200)
        XCTAssertEqual(reply.headers["content-type"], "audio/wav")
        XCTAssertNil(reply.headers["content-length"])
        XCTAssertEqual(reply.bodyText, "one,two,three")
    }

    func testStreamFailingBeforeItsFirstByteBecomesThatError() throws {
        let server = try TestServer(responder: ClosureResponder { _ in
            Response(body: .stream { _ in throw HTTPError.unavailable("storage unreachable") })
        })
        defer { server.shutdown() }
        let reply = try server.exchange(requestRecords())
        XCTAssertEqual(reply.status, 503)
        XCTAssertEqual(reply.headers["retry-after"], "5")
        XCTAssertEqual(try XCTUnwrap(reply.json)["detail"] as? String, "storage unreachable")
        XCTAssertNotNil(reply.headers["x-request-id"])
    }

    func testStreamFailingMidwayCutsTheConnection() throws {
        struct Broken: Error {}
        let server = try TestServer(responder: ClosureResponder { _ in
            Response(body: .stream { writer in
                try [UInt8](repeating: 65, count: 100_000).withUnsafeBytes { try writer.write($0) }
                throw Broken()
            })
        })
        defer { server.shutdown() }
        let reply = try server.exchange(requestRecords())
        XCTAssertEqual(reply.status, 200)
        XCTAssertFalse(reply.ended, "a broken body must not be reported as a complete response")
        XCTAssertEqual(try server.exchange(requestRecords()).status, 200)
    }

    func testHeaderThatWouldSplitTheHeadIsDropped() throws {
        let server = try TestServer(responder: ClosureResponder { _ in
            var response = Response.text("ok")
            response.headers.add("X-Evil", "a\r\nSet-Cookie: stolen=1")
            response.headers.add("Bad Name", "x")
            response.headers.add("X-Fine", "yes")
            return response
        })
        defer { server.shutdown() }
        let reply = try server.exchange(requestRecords())
        XCTAssertNil(reply.headers["set-cookie"])
        XCTAssertNil(reply.headers["x-evil"])
        XCTAssertNil(reply.headers["bad name"])
        XCTAssertEqual(reply.headers["x-fine"], "yes")
        XCTAssertEqual(reply.bodyText, "ok")
    }

    func testTheTransportsFieldsReplaceTheHandlersInAnyCase() throws {
        let server = try TestServer(responder: ClosureResponder { _ in
            var response = Response.text("private")
            response.headers.add("cache-control", "public, max-age=600")
            response.headers.add("X-REQUEST-ID", "forged")
            response.headers.add("content-length", "1")
            response.headers.add("X-Kept", "yes")
            return response
        })
        defer { server.shutdown() }
        let reply = try server.exchange(requestRecords(uri: "/api/v1/anything", extra: [("REQUEST_ID", "abc123")]))
        let names = reply.head.components(separatedBy: "\r\n").dropFirst().map { $0.prefix { $0 != ":" }.lowercased() }
        for name in ["cache-control", "x-request-id", "content-length", "x-content-type-options"] {
            XCTAssertEqual(names.filter { $0 == name }.count, 1, "\(name) in \(reply.head)")
        }
        XCTAssertEqual(reply.headers["cache-control"], "no-store")
        XCTAssertEqual(reply.headers["x-content-type-options"], "nosniff")
        XCTAssertEqual(reply.headers["x-request-id"], "abc123")
        XCTAssertEqual(reply.headers["content-length"], "7")
        XCTAssertEqual(reply.headers["x-kept"], "yes")
        XCTAssertEqual(reply.bodyText, "private")
    }

    func testRequestIDIsTheWebServersWhenPlainElseGenerated() throws {
        let server = try TestServer(responder: Self.echo)
        defer { server.shutdown() }
        let given = try server.exchange(requestRecords(extra: [("REQUEST_ID", "0123456789abcdef0123456789abcdef")]))
        XCTAssertEqual(given.headers["x-request-id"], "0123456789abcdef0123456789abcdef")
        for offered in ["has space", "new\nline", ""] {
            let reply = try server.exchange(requestRecords(extra: [("REQUEST_ID", offered)]))
            let id = try XCTUnwrap(reply.headers["x-request-id"])
            XCTAssertEqual(id.count, 32)
            XCTAssertTrue(id.allSatisfy(\.isHexDigit))
        }
    }

    func testHandlerCrashIsA500AndTheWorkerKeepsServing() throws {
        struct Unexpected: Error {}
        let router = Router()
        router.add("GET", "/boom") { _, _ in throw Unexpected() }
        router.add("GET", "/fine") { _, _ in .text("fine") }
        let server = try TestServer(threads: 1, responder: router)
        defer { server.shutdown() }
        let boom = try server.exchange(requestRecords(uri: "/boom"))
        XCTAssertEqual(boom.status, 500)
        XCTAssertEqual(try XCTUnwrap(boom.json)["detail"] as? String, "Internal Server Error")
        XCTAssertEqual(try server.exchange(requestRecords(uri: "/fine")).bodyText, "fine")
    }

    func testConcurrentRequestsOnSeveralThreads() throws {
        let server = try TestServer(threads: 4, responder: ClosureResponder { request in
            usleep(100_000)
            return .text(request.rawPath)
        })
        defer { server.shutdown() }
        let replies = Mutex<[String]>([])
        let started = Date()
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            let reply = try? server.exchange(requestRecords(uri: "/r\(i)"))
            replies.withLock { $0.append(reply?.bodyText ?? "failed") }
        }
        XCTAssertEqual(Set(replies.withLock { $0 }), Set((0..<8).map { "/r\($0)" }))
        XCTAssertLessThan(Date().timeIntervalSince(started), 0.75, "four threads should overlap the sleeps")
    }
}

func jsonResponse(_ object: [String: Any], status: Status = .ok) -> Response {
    let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data("{}".utf8)
    return Response(status: status, headers: Headers([("Content-Type", "application/json")]), body: .bytes(Array(data)))
}
