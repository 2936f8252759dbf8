import Foundation
import HTTP
import XCTest
@testable import FastCGI

final class WorkerTests: XCTestCase {
    func testStopLetsTheRequestInFlightFinish() throws {
        let server = try TestServer(threads: 2, responder: ClosureResponder { _ in
            usleep(600_000)
            return .text("finished")
        })
        defer { server.shutdown() }
        let connection = try server.connect()
        connection.send(requestRecords().bytes)
        usleep(150_000)
        server.worker.stop()
        XCTAssertFalse(server.waitUntilFinished(timeout: 0.2), "run() returned while a request was in flight")
        let reply = connection.readReply()
        XCTAssertTrue(reply.ended)
        XCTAssertEqual(reply.bodyText, "finished")
        connection.finish()
        XCTAssertTrue(server.waitUntilFinished(timeout: 1))
    }

    func testIdleWorkerStopsPromptly() throws {
        let server = try TestServer(threads: 3, responder: ClosureResponder { _ in .text("x") })
        defer { server.shutdown() }
        XCTAssertEqual(try server.exchange(requestRecords()).bodyText, "x")
        server.worker.stop()
        XCTAssertTrue(server.waitUntilFinished(timeout: 2))
    }

    func testMaxRequestsEndsTheWorker() throws {
        let server = try TestServer(threads: 1, maxRequests: 3, responder: ClosureResponder { _ in .text("x") })
        defer { server.shutdown() }
        for _ in 0..<3 { XCTAssertEqual(try server.exchange(requestRecords()).bodyText, "x") }
        XCTAssertTrue(server.waitUntilFinished(timeout: 2))
        XCTAssertEqual(server.worker.requestsServed, 3)
    }
}
