import Foundation
import XCTest
import HTTP
@testable import Uploads

final class MultipartTemporaryFilesTests: XCTestCase {
    func touch(_ path: String) {
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data("x".utf8)), path)
    }

    func testNamesCarryTheWritersIdentity() throws {
        let dir = makeTemporaryDirectory(self)
        let (fd, path) = try TemporaryFiles.create(in: dir)
        close(fd)
        let name = String(path.split(separator: "/").last!)
        let writer = try XCTUnwrap(TemporaryFiles.writer(ofFileNamed: name))
        XCTAssertEqual(writer, ProcessIdentity.current)
        XCTAssertTrue(writer.isRunning)
        XCTAssertNotEqual(writer.start, 0) // Linux: from /proc
        var info = stat()
        XCTAssertEqual(stat(path, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600)
    }

    func testCreateNeverReusesAName() throws {
        let dir = makeTemporaryDirectory(self)
        var paths = Set<String>()
        for _ in 0..<50 {
            let (fd, path) = try TemporaryFiles.create(in: dir)
            close(fd)
            paths.insert(path)
        }
        XCTAssertEqual(paths.count, 50)
    }

    func testSweepRemovesOnlyFilesOfDeadProcesses() throws {
        let dir = makeTemporaryDirectory(self)
        let me = ProcessIdentity.current

        // A process that has exited.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let deadPID = child.processIdentifier

        let live = try TemporaryFiles.create(in: dir)
        close(live.fd)
        let leftovers = [
            "upload-\(deadPID)-12345-0123456789abcdef.part",
            "upload-\(me.pid)-\(me.start + 1)-0123456789abcdef.part", // same pid, another process (pid reused)
            "upload-2147483647-1-fedcba9876543210.part",
        ]
        let others = [
            "upload-\(deadPID)-12345-0123456789abcdef.partial", // not ours
            "upload-\(deadPID)-12345.part",
            "upload-\(deadPID)-12345-xyz.part",
            "settings.json",
        ]
        for name in leftovers + others { touch(dir + "/" + name) }
        try FileManager.default.createDirectory(atPath: dir + "/upload-\(deadPID)-1-0123456789abcdef.part", withIntermediateDirectories: false)

        XCTAssertEqual(TemporaryFiles.sweep(directory: dir), 3)
        let expected = (others + [String(live.path.split(separator: "/").last!), "upload-\(deadPID)-1-0123456789abcdef.part"]).sorted()
        XCTAssertEqual(directoryEntries(dir), expected)
        XCTAssertEqual(TemporaryFiles.sweep(directory: dir), 0)
        XCTAssertEqual(TemporaryFiles.sweep(directory: dir + "/missing"), 0)
    }

    func testStartTimeOfAMissingProcess() {
        XCTAssertNil(ProcessIdentity.startTime(of: 2_147_483_647))
        XCTAssertNotNil(ProcessIdentity.startTime(of: getpid()))
    }
}
