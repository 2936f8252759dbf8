import Foundation
import XCTest
@testable import FastCGI

final class ListenerTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("listener-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    /// A socket file whose listener is gone, as a crashed responder leaves it.
    func makeStaleSocket(_ path: String) throws {
        let listener = try Listener.open(.unix(path: path))
        // Close without removing the file.
        close(listener.fd)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path))
    }

    func testStaleSocketFileIsReplaced() throws {
        let path = directory + "/s.sock"
        try makeStaleSocket(path)
        let listener = try Listener.open(.unix(path: path))
        defer { listener.close() }
        XCTAssertNoThrow(try FastCGIConnection(path: path))
    }

    /// Owner and group only: nginx reaches it as the same user or through the group.
    func testSocketIsNotWorldAccessible() throws {
        let path = directory + "/s.sock"
        let listener = try Listener.open(.unix(path: path))
        defer { listener.close() }
        let mode = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        XCTAssertEqual(mode & 0o777, 0o660)
    }

    func testLiveSocketIsNotStolen() throws {
        let path = directory + "/s.sock"
        let first = try Listener.open(.unix(path: path))
        defer { first.close() }
        XCTAssertThrowsError(try Listener.open(.unix(path: path))) { error in
            XCTAssertTrue(String(describing: error).contains("already listening"))
        }
    }

    func testRegularFileIsNotReplaced() throws {
        let path = directory + "/not-a-socket"
        _ = FileManager.default.createFile(atPath: path, contents: Data("keep me".utf8))
        XCTAssertThrowsError(try Listener.open(.unix(path: path)))
        XCTAssertEqual(FileManager.default.contents(atPath: path), Data("keep me".utf8))
    }

    func testCloseRemovesOnlyItsOwnSocketFile() throws {
        let path = directory + "/s.sock"
        let old = try Listener.open(.unix(path: path))
        // Someone removes the file while the old responder runs, and a successor takes over the path.
        unlink(path)
        let successor = try Listener.open(.unix(path: path))
        defer { successor.close() }
        old.close()
        XCTAssertTrue(FileManager.default.fileExists(atPath: path), "the successor's socket was removed")
        successor.close()
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }

    func testTCPListenerAndAddressParsing() throws {
        XCTAssertEqual(ListenAddress.tcp(parsing: "127.0.0.1:9000"), .tcp(host: "127.0.0.1", port: 9000))
        XCTAssertEqual(ListenAddress.tcp(parsing: ":9000"), .tcp(host: "", port: 9000))
        XCTAssertEqual(ListenAddress.tcp(parsing: "[::1]:9000"), .tcp(host: "::1", port: 9000))
        XCTAssertNil(ListenAddress.tcp(parsing: "::1:9000"))
        XCTAssertNil(ListenAddress.tcp(parsing: "host:0"))
        XCTAssertNil(ListenAddress.tcp(parsing: "host"))
        let listener = try Listener.open(.tcp(host: "127.0.0.1", port: 0))
        defer { listener.close() }
        XCTAssertTrue(Listener.isListeningSocket(listener.fd))
    }

    func testInheritedDescriptorMustBeAListeningSocket() throws {
        let fd = open("/dev/null", O_RDONLY)
        defer { close(fd) }
        XCTAssertThrowsError(try Listener.open(.inherited(fd: fd)))
    }
}
