#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest
@testable import FastCGI

/// FCGXOutput writes FCGI_STDOUT records itself (not through libfcgi's 8 KiB stream):
/// what arrives must be well-formed records of the request's id whose contents, in
/// order, are exactly what was put.
final class OutputRecordsTests: XCTestCase {
    struct Record { let type: UInt8, requestID: Int, content: [UInt8], padding: Int }

    /// A connected pair: the output writes to `ours`, the test reads `theirs`.
    func pair() -> (ours: Int32, theirs: Int32) {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds), 0)
        return (fds[0], fds[1])
    }

    /// Everything `theirs` receives until the other end closes, cut into records.
    func records(_ fd: Int32) -> [Record] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        var out: [Record] = []
        var i = 0
        while i + 8 <= bytes.count {
            let length = Int(bytes[i + 4]) << 8 | Int(bytes[i + 5])
            let padding = Int(bytes[i + 6])
            XCTAssertEqual(bytes[i], 1, "version")
            XCTAssertLessThanOrEqual(i + 8 + length + padding, bytes.count, "a record cut short")
            out.append(Record(type: bytes[i + 1], requestID: Int(bytes[i + 2]) << 8 | Int(bytes[i + 3]),
                              content: Array(bytes[(i + 8)..<min(bytes.count, i + 8 + length)]), padding: padding))
            i += 8 + length + padding
        }
        XCTAssertEqual(i, bytes.count, "trailing bytes that are no record")
        return out
    }

    /// The writer runs on its own thread: a big body fills the socket buffer.
    func written(_ requestID: Int32, _ puts: [[UInt8]]) -> [Record] {
        let (ours, theirs) = pair()
        let writer = Thread {
            let output = FCGXOutput(socket: ours, requestID: requestID)
            for bytes in puts {
                do { try output.put(bytes) } catch { XCTFail("put failed: \(error)") }
            }
            output.flush()
            XCTAssertFalse(output.failed)
            close(ours)
        }
        writer.start()
        defer { close(theirs) }
        return records(theirs)
    }

    func testASmallResponseIsOneAlignedRecord() {
        let head = Array("Status: 200 OK\r\nContent-Type: application/json\r\n\r\n".utf8)
        let body = Array("{\"a\":1}".utf8)
        let got = written(7, [head, body])
        XCTAssertEqual(got.count, 1)
        XCTAssertEqual(got[0].type, 6)
        XCTAssertEqual(got[0].requestID, 7)
        XCTAssertEqual(got[0].content, head + body)
        XCTAssertEqual((got[0].content.count + got[0].padding) % 8, 0)
    }

    func testALargeBodyGoesOutInRecordsOfUpTo64KiBWithItsHeadFirst() {
        let head = Array("Status: 200 OK\r\n\r\n".utf8)
        let body = (0..<300_001).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let tail = Array("end".utf8)
        let got = written(258, [head, body, tail])
        XCTAssertEqual(got.count, 6, "head and body: four records of 65,528 and the rest; then the gathered tail")
        for record in got {
            XCTAssertEqual(record.type, 6)
            XCTAssertEqual(record.requestID, 258)
            XCTAssertLessThanOrEqual(record.content.count, 65_535)
            XCTAssertEqual((record.content.count + record.padding) % 8, 0)
        }
        XCTAssertEqual(got.flatMap(\.content), head + body + tail)
    }

    func testAGonePeerIsAFailureNotASignal() throws {
        let (ours, theirs) = pair()
        close(theirs)
        defer { close(ours) }
        let output = FCGXOutput(socket: ours, requestID: 1)
        XCTAssertThrowsError(try output.put([UInt8](repeating: 1, count: 100_000)))
        XCTAssertTrue(output.failed)
        XCTAssertThrowsError(try output.put([1]))
    }
}
