import Foundation
import XCTest
import HTTP
@testable import Uploads
import Digests

/// A multipart body made while it is read: one file part of `size` bytes, never held whole.
final class GeneratedUpload: BodyStream {
    private let head = Array("--XyZ-b0und\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"big.wav\"\r\n\r\n".utf8)
    private let tail = Array("\r\n--XyZ-b0und\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{}\r\n--XyZ-b0und--\r\n".utf8)
    /// A block of a prime length, so the data and the reads never line up the same way twice.
    private let block: [UInt8]
    let size: Int
    private var offset = 0
    var total: Int { head.count + size + tail.count }

    init(size: Int) {
        self.size = size
        var rng = SeededGenerator(seed: 99)
        var block = (0..<65_521).map { _ in UInt8.random(in: 0...255, using: &rng) }
        // Delimiter lookalikes in the data: CR, CRLF, CRLF--, and all of the delimiter
        // but its last byte, at the end of the block (the next one starts with a zero).
        block[0] = 0
        for (i, s) in [(100, "\r"), (2000, "\r\n"), (4000, "\r\n--"), (65_521 - 12, "\r\n--XyZ-b0un")] {
            block.replaceSubrange(i..<i + s.utf8.count, with: Array(s.utf8))
        }
        self.block = block
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var n = 0
        while n < buffer.count && offset < total {
            let piece: Int
            if offset < head.count {
                piece = min(buffer.count - n, head.count - offset)
                head.withUnsafeBytes { (buffer.baseAddress! + n).copyMemory(from: $0.baseAddress! + offset, byteCount: piece) }
            } else if offset < head.count + size {
                let at = (offset - head.count) % block.count
                piece = min(buffer.count - n, head.count + size - offset, block.count - at)
                block.withUnsafeBytes { (buffer.baseAddress! + n).copyMemory(from: $0.baseAddress! + at, byteCount: piece) }
            } else {
                let at = offset - head.count - size
                piece = min(buffer.count - n, tail.count - at)
                tail.withUnsafeBytes { (buffer.baseAddress! + n).copyMemory(from: $0.baseAddress! + at, byteCount: piece) }
            }
            n += piece
            offset += piece
        }
        return n
    }
}

final class MultipartStreamingTests: XCTestCase {
    func peakResidentBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024 // kilobytes on Linux
    }

    func sha256sum(_ path: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        process.arguments = [path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: output.prefix(64), as: UTF8.self)
    }

    func testLargeUploadStreamsWithFlatMemory() throws {
        let dir = makeTemporaryDirectory(self)
        let size = 160 << 20
        let upload = GeneratedUpload(size: size)
        let before = peakResidentBytes()
        let form = try MultipartReader.read(upload, contentType: "multipart/form-data; boundary=XyZ-b0und", tempDirectory: dir) {
            $0 == "audio" ? .file(maxBytes: 512 << 20) : .text(maxBytes: 100)
        }
        let growth = peakResidentBytes() - before
        XCTAssertLessThan(growth, 16 << 20, "peak memory grew by \(growth >> 20) MiB for a \(size >> 20) MiB upload")

        guard case .file(let file)? = form["audio"] else { return XCTFail("no audio") }
        XCTAssertEqual(file.size, Int64(size))
        var info = stat()
        XCTAssertEqual(stat(file.path, &info), 0)
        XCTAssertEqual(Int(info.st_size), size)
        XCTAssertEqual(file.sha256, try sha256sum(file.path))
        guard case .text(let metadata)? = form["metadata"] else { return XCTFail("no metadata") }
        XCTAssertEqual(metadata, Array("{}".utf8))
        form.removeTemporaryFiles()
        XCTAssertEqual(directoryEntries(dir), [])
    }

    func testSHA256KnownAnswers() {
        func digest(_ pieces: [[UInt8]]) -> String {
            let hasher = SHA256Hasher()
            for p in pieces { p.withUnsafeBytes { hasher.update($0) } }
            return hasher.finalize()
        }
        XCTAssertEqual(digest([]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(digest([Array("ab".utf8), [], Array("c".utf8)]), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let a = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        XCTAssertEqual(digest(Array(repeating: a, count: 1000)), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
