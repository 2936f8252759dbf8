#if canImport(Glibc)
import Glibc
#endif
import Auth
import Foundation
import XCTest

final class JWKSFetcherTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("recstore-jwks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: directory) }

    func testReadsAFile() throws {
        let path = directory.appendingPathComponent("jwks.json").path
        let jwks = TestKeys.jwks([(TestKeys.a, "key-a")])
        try jwks.write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(try JWKSFetcher(source: .file(path), timeoutSeconds: 1).fetch(), Array(jwks.utf8))

        XCTAssertThrowsError(try JWKSFetcher(source: .file(path + ".missing"), timeoutSeconds: 1).fetch())
        try String(repeating: " ", count: JWKSFetcher.maxBytes + 1).write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try JWKSFetcher(source: .file(path), timeoutSeconds: 1).fetch())
    }

    func testFetchesOverHTTPAndRefusesErrorStatuses() throws {
        let server = try JWKSServer()
        defer { server.stop() }
        server.serve("{\"keys\":[]}")
        let fetcher = JWKSFetcher(source: .url(server.url), timeoutSeconds: 2)
        XCTAssertEqual(try fetcher.fetch(), Array("{\"keys\":[]}".utf8))
        server.behave(.fail(status: 404))
        XCTAssertThrowsError(try fetcher.fetch()) { XCTAssertTrue("\($0)".contains("answered 404"), "\($0)") }
    }

    /// TLS verification is on: an issuer with a certificate nobody vouches for is refused.
    func testHTTPSWithAnUntrustedCertificateIsRefused() throws {
        let dir = directory.path
        try run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                                     "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem"])
        // s_server -HTTP sends files as whole responses, head included.
        try ("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + TestKeys.jwks([(TestKeys.a, "key-a")]))
            .write(toFile: dir + "/jwks.json", atomically: true, encoding: .utf8)
        let port = try freePort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        server.arguments = ["s_server", "-accept", "127.0.0.1:\(port)", "-cert", dir + "/cert.pem", "-key", dir + "/key.pem", "-HTTP", "-quiet"]
        server.currentDirectoryURL = directory
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { server.terminate(); server.waitUntilExit() }
        try waitForListener(port: port)

        let url = "https://127.0.0.1:\(port)/jwks.json"
        // Control: a client that trusts this certificate gets the JWKS.
        try run("/usr/bin/curl", ["-sf", "--cacert", dir + "/cert.pem", "-o", dir + "/fetched.json", url])
        XCTAssertEqual(try String(contentsOfFile: dir + "/fetched.json", encoding: .utf8), TestKeys.jwks([(TestKeys.a, "key-a")]))

        XCTAssertThrowsError(try JWKSFetcher(source: .url(url), timeoutSeconds: 3).fetch()) { error in
            XCTAssertTrue("\(error)".contains("certificate"), "\(error)")
        }
    }

    private func run(_ tool: String, _ arguments: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "\(tool) \(arguments)")
    }

    private func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return UInt16(bigEndian: address.sin_port)
    }

    private func waitForListener(port: UInt16) throws {
        for _ in 0..<100 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = port.bigEndian
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            close(fd)
            if connected == 0 { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTFail("openssl s_server did not start")
    }
}
