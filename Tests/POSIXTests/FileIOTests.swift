#if canImport(Glibc)
import Glibc
#endif
import Foundation
import POSIX
import XCTest

final class FileIOTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "posix-tests-" + FileIO.randomName()
        XCTAssertEqual(mkdir(directory, 0o700), 0)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func entries() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: directory).sorted() }

    func contents(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }

    func testPublishCreatesOnlyWhenAbsentUnlessReplacing() throws {
        let path = directory + "/key.pem"
        XCTAssertTrue(try FileIO.publish(Array("one".utf8), at: path, mode: 0o600, replace: false))
        XCTAssertFalse(try FileIO.publish(Array("two".utf8), at: path, mode: 0o600, replace: false))
        XCTAssertEqual(contents(path), "one")
        XCTAssertTrue(try FileIO.publish(Array("three".utf8), at: path, mode: 0o644, replace: true))
        XCTAssertEqual(contents(path), "three")
        var st = stat()
        XCTAssertEqual(stat(path, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o644)
        // No temporary file is left behind, whichever way it went.
        XCTAssertEqual(try entries(), ["key.pem"])
    }

    func testPublishIntoAMissingDirectoryFailsWithTheSystemsReason() {
        XCTAssertThrowsError(try FileIO.publish([1], at: directory + "/missing/file", mode: 0o600, replace: true)) { error in
            let failure = error as? SystemError
            XCTAssertEqual(failure?.code, ENOENT)
            XCTAssertEqual(failure?.operation, "cannot create")
            XCTAssertTrue(String(describing: error).hasSuffix(": No such file or directory"), "\(error)")
        }
    }

    func testCreateUniqueNamesAreFreshAndExclusive() throws {
        let a = try FileIO.createUnique(in: directory, prefix: "upload-", suffix: ".part", mode: 0o600)
        let b = try FileIO.createUnique(in: directory, prefix: "upload-", suffix: ".part", mode: 0o600)
        defer { close(a.fd); close(b.fd) }
        XCTAssertNotEqual(a.path, b.path)
        let name = (a.path as NSString).lastPathComponent
        XCTAssertTrue(name.hasPrefix("upload-") && name.hasSuffix(".part"))
        XCTAssertEqual(name.count, "upload-".count + 16 + ".part".count)
        XCTAssertEqual(fcntl(a.fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC)
    }

    func testWriteAllThenReadBackWholeAndAtAnOffset() throws {
        let (fd, path) = try FileIO.createUnique(in: directory, prefix: "data-", mode: 0o600)
        let bytes = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try bytes.withUnsafeBytes { try FileIO.writeAll(fd, $0, path: path) }
        try FileIO.sync(fd, path: path)
        close(fd)
        let input = FileIO.open(path, O_RDONLY)
        XCTAssertGreaterThanOrEqual(input, 0)
        defer { close(input) }
        var back = [UInt8](repeating: 0, count: 10)
        let n = try back.withUnsafeMutableBytes { try FileIO.read(input, into: $0.baseAddress!, count: 10, at: 99_995, path: path) }
        XCTAssertEqual(n, 5)
        XCTAssertEqual(Array(back[0..<5]), Array(bytes[99_995...]))
        var all: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let got = try chunk.withUnsafeMutableBytes { try FileIO.read(input, into: $0, path: path) }
            if got == 0 { break }
            all += chunk[0..<got]
        }
        XCTAssertEqual(all, bytes)
    }

    func testWriteToAClosedDescriptorNamesTheFile() {
        XCTAssertThrowsError(try [UInt8](repeating: 1, count: 4).withUnsafeBytes { try FileIO.writeAll(-1, $0, path: "the file") }) { error in
            XCTAssertEqual((error as? SystemError)?.code, EBADF)
            XCTAssertTrue(String(describing: error).hasPrefix("cannot write the file: "), "\(error)")
        }
    }
}
