import Foundation
import TestSupport
import XCTest
@testable import Curl

final class CurlSessionTests: XCTestCase {
    nonisolated(unsafe) static var server: ScriptedServer!
    override class func setUp() { super.setUp(); server = try! ScriptedServer() }
    override class func tearDown() { server.stop(); server = nil; super.tearDown() }
    var base: String { Self.server.base }

    func text(_ r: HTTPResponse) -> String { String(decoding: r.body, as: UTF8.self) }

    func testKeepsTheConnectionAlive() throws {
        let session = CurlSession()
        let first = try session.perform(HTTPRequest(method: "GET", url: base + "/peer"))
        let second = try session.perform(HTTPRequest(method: "GET", url: base + "/peer"))
        XCTAssertEqual(first.status, 200)
        XCTAssertEqual(text(first), text(second), "same client port: one connection")
        XCTAssertNotEqual(text(try CurlSession().perform(HTTPRequest(method: "GET", url: base + "/peer"))), text(first))
    }

    func testStreamsAFileRangeAsTheBody() throws {
        let path = NSTemporaryDirectory() + "curltest-\(UUID().uuidString)"
        let content = (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        FileManager.default.createFile(atPath: path, contents: Data(content))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let slice = Array(content[100_000..<700_000])
        let expected = "600000 " + sha256Hex(slice) + " -"
        for method in ["PUT", "POST"] {
            let r = try CurlSession().perform(HTTPRequest(method: method, url: base + "/echo", body: .file(path: path, offset: 100_000, length: 600_000)))
            XCTAssertEqual(text(r), expected, method)
        }
        XCTAssertThrowsError(try CurlSession().perform(HTTPRequest(method: "PUT", url: base + "/echo",
                                                                   body: .file(path: path, offset: 900_000, length: 200_000)))) {
            XCTAssertTrue(($0 as? TransferError)?.message.contains("ended early") == true, "\($0)")
        }
    }

    func testSinkGetsTwoHundredsAndErrorsAreCollected() throws {
        var streamed: [UInt8] = []
        let ok = try CurlSession().perform(HTTPRequest(method: "GET", url: base + "/status/200"), sink: { streamed += $0 })
        XCTAssertEqual(ok.status, 200)
        XCTAssertEqual(streamed, Array("ok".utf8))
        XCTAssertTrue(ok.body.isEmpty)
        var none: [UInt8] = []
        let failed = try CurlSession().perform(HTTPRequest(method: "GET", url: base + "/status/503"), sink: { none += $0 })
        XCTAssertEqual(failed.status, 503)
        XCTAssertTrue(none.isEmpty)
        XCTAssertTrue(text(failed).contains("<Code>Scripted503</Code>"))
        XCTAssertEqual(failed.header("X-Amz-Request-Id"), "req-1")
    }

    func testSinkErrorStopsTheTransfer() {
        struct Stop: Error {}
        XCTAssertThrowsError(try CurlSession().perform(HTTPRequest(method: "GET", url: base + "/status/200"), sink: { _ in throw Stop() })) {
            XCTAssertTrue($0 is Stop)
        }
    }

    func testTimeoutsAndRefusedConnections() throws {
        var slow = HTTPRequest(method: "GET", url: base + "/sleep/3")
        slow.timeout = 0.5
        let start = Date()
        XCTAssertThrowsError(try CurlSession().perform(slow)) { XCTAssertGreaterThan(($0 as? TransferError)?.code ?? 0, 0) }
        XCTAssertLessThan(Date().timeIntervalSince(start), 2.5)

        let closed = try closedPort()
        XCTAssertThrowsError(try CurlSession().perform(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(closed)/"))) {
            XCTAssertGreaterThan(($0 as? TransferError)?.code ?? 0, 0)
        }
    }

    func testBatchRunsRequestsConcurrently() throws {
        let requests = (0..<8).map { HTTPRequest(method: "GET", url: base + "/sleep/0.5?\($0)") } + [HTTPRequest(method: "GET", url: base + "/status/404")]
        let start = Date()
        let results = CurlBatch().perform(requests, concurrency: 8)
        XCTAssertLessThan(Date().timeIntervalSince(start), 2.0, "eight half-second requests at once")
        XCTAssertEqual(results.count, 9)
        for r in results.prefix(8) { XCTAssertEqual(try r.get().body, Array("slept".utf8)) }
        XCTAssertEqual(try results[8].get().status, 404)
        let refused = CurlBatch().perform([HTTPRequest(method: "GET", url: "http://127.0.0.1:\(try closedPort())/")])
        XCTAssertThrowsError(try refused[0].get())
    }

    func closedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        close(fd)
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    func sha256Hex(_ bytes: [UInt8]) -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())"]
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        try! p.run()
        input.fileHandleForWriting.write(Data(bytes))
        try! input.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
