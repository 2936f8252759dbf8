#if canImport(Glibc)
import Glibc
#endif
import XCTest
@testable import FastCGI

/// A worker thread's wait: a queued connection and the stop are told apart, a stop
/// stays visible to every later wait, and each thread's instance sees the stop.
final class ConnectionWaiterTests: XCTestCase {
    var directory = ""
    var listener: Listener!
    var stop: [Int32] = [-1, -1]

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "waiter-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        mkdir(directory, 0o700)
        listener = try Listener.open(.unix(path: directory + "/s.sock"))
        XCTAssertEqual(pipe(&stop), 0)
    }

    override func tearDown() {
        listener.close()
        close(stop[0])
        close(stop[1])
        rmdir(directory)
    }

    func connectClient() -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array((directory + "/s.sock").utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path)
            raw[path.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        XCTAssertEqual(connected, 0)
        return fd
    }

    func testAQueuedConnectionIsReportedAsAConnection() throws {
        let waiter = try XCTUnwrap(ConnectionWaiter(listeningFD: listener.fd, stopFD: stop[0]))
        defer { waiter.close() }
        let client = connectClient()
        defer { close(client) }
        let readiness = try waiter.wait()
        XCTAssertTrue(readiness.connection)
        XCTAssertFalse(readiness.stop)
        XCTAssertFalse(readiness.listenerFailed)
    }

    func testAStopReachesEveryThreadsWaiterAndStaysVisible() throws {
        let first = try XCTUnwrap(ConnectionWaiter(listeningFD: listener.fd, stopFD: stop[0]))
        let second = try XCTUnwrap(ConnectionWaiter(listeningFD: listener.fd, stopFD: stop[0]))
        defer { first.close(); second.close() }
        var byte: UInt8 = 1
        XCTAssertEqual(write(stop[1], &byte, 1), 1)
        for waiter in [first, second, first] {
            let readiness = try waiter.wait()
            XCTAssertTrue(readiness.stop)
            XCTAssertFalse(readiness.connection)
        }
    }

    func testAConnectionAndAStopTogetherAreBothReported() throws {
        let waiter = try XCTUnwrap(ConnectionWaiter(listeningFD: listener.fd, stopFD: stop[0]))
        defer { waiter.close() }
        let client = connectClient()
        defer { close(client) }
        var byte: UInt8 = 1
        XCTAssertEqual(write(stop[1], &byte, 1), 1)
        let readiness = try waiter.wait()
        XCTAssertTrue(readiness.connection)
        XCTAssertTrue(readiness.stop)
    }
}
