import Foundation
import XCTest
import HTTP
@testable import Uploads

/// A body in memory that records how it was read, and can fail like an aborted client.
final class RecordingBody: BodyStream {
    let bytes: [UInt8]
    let maxRead: Int
    let failAt: Int?
    private(set) var offset = 0
    private(set) var largestRequest = 0
    private(set) var readsAfterFailure = 0
    private var failed = false
    /// Called with the offset before each read.
    var beforeRead: ((Int) -> Void)?

    init(_ bytes: [UInt8], maxRead: Int = .max, failAt: Int? = nil) {
        self.bytes = bytes
        self.maxRead = maxRead
        self.failAt = failAt
    }

    var fullyRead: Bool { offset == bytes.count }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        beforeRead?(offset)
        largestRequest = max(largestRequest, buffer.count)
        if failed { readsAfterFailure += 1 }
        if let failAt, offset >= failAt {
            failed = true
            throw HTTPError(.badRequest, "client closed the connection")
        }
        var n = min(buffer.count, bytes.count - offset, maxRead)
        if let failAt { n = min(n, failAt - offset) }
        guard n > 0 else { return 0 }
        bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: n) }
        offset += n
        return n
    }
}

/// A new empty directory, removed by the test's teardown.
func makeTemporaryDirectory(_ test: XCTestCase) -> String {
    let path = NSTemporaryDirectory() + "multipart-test-" + UUID().uuidString
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
}

func directoryEntries(_ path: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
}

final class MultipartReaderTests: XCTestCase {
    let contentType = "multipart/form-data; boundary=XyZ-b0und"
    var dir = ""

    override func setUp() {
        dir = makeTemporaryDirectory(self)
    }

    func standardPolicy(_ name: String) -> PartPolicy {
        switch name {
        case "audio": .file(maxBytes: 1000)
        case "transcript": .textOrFile(maxBytes: 100)
        case "metadata", "session_id": .text(maxBytes: 50)
        default: .ignore
        }
    }

    func read(_ body: BodyStream, contentType: String? = nil, limits: MultipartLimits = MultipartLimits()) throws -> MultipartForm {
        try MultipartReader.read(body, contentType: contentType ?? self.contentType, tempDirectory: dir,
                                 policy: standardPolicy, limits: limits)
    }

    func text(_ value: FormValue?) -> String? {
        guard case .text(let bytes)? = value else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    func file(_ value: FormValue?) -> UploadedFile? {
        guard case .file(let f)? = value else { return nil }
        return f
    }

    func testFormWithFileTextAndIgnoredParts() throws {
        let audio = Array("abc".utf8)
        let body = multipartBody([
            field("unknown", "dropped"),
            (["Content-Disposition: form-data; name=\"audio\"; filename=\"a \\\"1\\\".wav\"", "Content-Type: audio/wav"], audio),
            field("metadata", "{\"name\":\"x\"}"),
            field("metadata", "second"),
            field("transcript", "words"),
        ])
        let recording = RecordingBody(body, maxRead: 5)
        let form = try read(recording)
        XCTAssertTrue(recording.fullyRead)
        XCTAssertEqual(form.parts.map(\.name), ["audio", "metadata", "transcript"])
        XCTAssertNil(form["unknown"])
        XCTAssertEqual(text(form["metadata"]), "{\"name\":\"x\"}")
        XCTAssertEqual(text(form["transcript"]), "words")

        let f = try XCTUnwrap(file(form["audio"]))
        XCTAssertEqual(f.size, 3)
        XCTAssertEqual(f.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(f.prefix, audio)
        XCTAssertEqual(f.filename, "a \"1\".wav")
        XCTAssertEqual(f.contentType, "audio/wav")
        XCTAssertEqual(FileManager.default.contents(atPath: f.path), Data(audio))
        XCTAssertTrue(f.path.hasPrefix(dir + "/upload-\(getpid())-"))
        XCTAssertTrue(f.path.hasSuffix(".part"))
        let attributes = try FileManager.default.attributesOfItem(atPath: f.path)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)

        form.removeTemporaryFiles()
        XCTAssertEqual(directoryEntries(dir), [])
    }

    func testTranscriptWithAFilenameBecomesAFile() throws {
        let body = multipartBody([(["Content-Disposition: form-data; name=transcript; filename=t.txt"], Array("hello".utf8))])
        let form = try read(RecordingBody(body))
        let f = try XCTUnwrap(file(form["transcript"]))
        XCTAssertEqual(f.size, 5)
        XCTAssertEqual(f.filename, "t.txt")
        XCTAssertNil(f.contentType)
    }

    func testEmptyFilePart() throws {
        let body = multipartBody([(["Content-Disposition: form-data; name=audio; filename=\"\""], [])])
        let form = try read(RecordingBody(body))
        let f = try XCTUnwrap(file(form["audio"]))
        XCTAssertEqual(f.size, 0)
        XCTAssertEqual(f.prefix, [])
        XCTAssertEqual(f.filename, "")
        XCTAssertEqual(f.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    func testPrefixKeepsTheFirst64Bytes() throws {
        let data = (0..<200).map { UInt8($0) }
        let body = multipartBody([(["Content-Disposition: form-data; name=audio; filename=a"], data)])
        let form = try read(RecordingBody(body, maxRead: 7))
        XCTAssertEqual(file(form["audio"])?.prefix, Array(data[0..<64]))
    }

    func testTakenFilesAreLeftToTheCaller() throws {
        let body = multipartBody([
            (["Content-Disposition: form-data; name=audio; filename=a"], Array("one".utf8)),
            (["Content-Disposition: form-data; name=transcript; filename=t"], Array("two".utf8)),
        ])
        var form: MultipartForm? = try read(RecordingBody(body))
        XCTAssertEqual(directoryEntries(dir).count, 2)
        let taken = try XCTUnwrap(form?.take("audio"))
        XCTAssertEqual(taken.filename, "a")
        XCTAssertNil(form?.take("metadata"))
        form = nil // released: the untaken file goes
        XCTAssertEqual(directoryEntries(dir), [String(taken.path.split(separator: "/").last!)])
    }

    func testRepeatedNamesKeepOnlyTheFirstPart() throws {
        // 60 copies of each field, each within its limit: one of each is kept, the
        // others never reach memory or disk.
        var parts: [(headers: [String], data: [UInt8])] = []
        for i in 0..<20 {
            parts.append((["Content-Disposition: form-data; name=audio; filename=a\(i)"], [UInt8](repeating: UInt8(i), count: 1000)))
            parts.append(field("transcript", String(repeating: "t", count: 100 - i)))
            parts.append(field("metadata", "m\(i)"))
        }
        var policyCalls = 0
        let form = try MultipartReader.read(RecordingBody(multipartBody(parts)), contentType: contentType, tempDirectory: dir) {
            policyCalls += 1
            return self.standardPolicy($0)
        }
        XCTAssertEqual(policyCalls, 3)
        XCTAssertEqual(form.parts.map(\.name), ["audio", "transcript", "metadata"])
        XCTAssertEqual(file(form["audio"])?.filename, "a0")
        XCTAssertEqual(text(form["transcript"])?.count, 100)
        XCTAssertEqual(text(form["metadata"]), "m0")
        XCTAssertEqual(directoryEntries(dir).count, 1)
    }

    func testReleasedFormRemovesItsFiles() throws {
        let body = multipartBody([(["Content-Disposition: form-data; name=audio; filename=a"], Array("one".utf8))])
        do {
            let form = try read(RecordingBody(body))
            XCTAssertNotNil(file(form["audio"]))
            XCTAssertEqual(directoryEntries(dir).count, 1)
        }
        XCTAssertEqual(directoryEntries(dir), [])
    }

    /// Every failure: the status, nothing left on disk, and the answer comes without
    /// reading the rest of the body (the transport discards a bounded remainder).
    func assertFails(_ body: [UInt8], status: Status, contentType: String? = nil, limits: MultipartLimits = MultipartLimits(),
                     file: StaticString = #filePath, line: UInt = #line) {
        let recording = RecordingBody(body + [UInt8](repeating: 0x41, count: 300_000), maxRead: 1000)
        XCTAssertThrowsError(try read(recording, contentType: contentType, limits: limits), file: file, line: line) {
            XCTAssertEqual(($0 as? HTTPError)?.status, status, file: file, line: line)
        }
        XCTAssertFalse(recording.fullyRead, "the reader waited for the whole body", file: file, line: line)
        XCTAssertEqual(directoryEntries(dir), [], "temporary files left", file: file, line: line)
    }

    func testFileOverItsLimitIs413() {
        let big = [UInt8](repeating: 1, count: 1001)
        let body = multipartBody([
            (["Content-Disposition: form-data; name=transcript; filename=ok"], [UInt8](repeating: 1, count: 100)),
            (["Content-Disposition: form-data; name=audio; filename=big"], big),
        ])
        assertFails(body, status: .payloadTooLarge)
        let atLimit = multipartBody([(["Content-Disposition: form-data; name=audio; filename=a"], [UInt8](repeating: 1, count: 1000))])
        XCTAssertEqual(file(try read(RecordingBody(atLimit))["audio"])?.size, 1000)
    }

    func testTextOverItsLimitIs413() {
        let body = multipartBody([
            (["Content-Disposition: form-data; name=audio; filename=a"], Array("x".utf8)),
            field("metadata", String(repeating: "m", count: 51)),
        ])
        assertFails(body, status: .payloadTooLarge)
        let atLimit = multipartBody([field("metadata", String(repeating: "m", count: 50))])
        XCTAssertEqual(text(try read(RecordingBody(atLimit))["metadata"])?.count, 50)
    }

    func testTranscriptFileOverItsLimitIs413() {
        let body = multipartBody([(["Content-Disposition: form-data; name=transcript; filename=t.txt"], [UInt8](repeating: 0x61, count: 101))])
        assertFails(body, status: .payloadTooLarge)
    }

    func testLimitIsEnforcedBeforeTheWholePartArrives() {
        // The audio's limit is 1000: a part of 10 MB is refused and its file removed
        // after about 1000 bytes; the rest is only drained.
        var body = Array("--XyZ-b0und\r\nContent-Disposition: form-data; name=audio; filename=a\r\n\r\n".utf8)
        body += [UInt8](repeating: 7, count: 10_000_000)
        let recording = RecordingBody(body, maxRead: 512)
        var largestFile = 0
        var goneAt: Int?
        recording.beforeRead = { offset in
            let sizes = directoryEntries(self.dir).map {
                (try? FileManager.default.attributesOfItem(atPath: self.dir + "/" + $0)[.size] as? Int) ?? 0
            }
            largestFile = max(largestFile, sizes.max() ?? 0)
            if goneAt == nil && largestFile > 0 && sizes.isEmpty { goneAt = offset }
        }
        XCTAssertThrowsError(try read(recording)) { XCTAssertEqual(($0 as? HTTPError)?.status, .payloadTooLarge) }
        // Refused without reading the rest of the 10 MB.
        XCTAssertFalse(recording.fullyRead)
        XCTAssertLessThanOrEqual(largestFile, 1000)
        XCTAssertLessThan(recording.offset, 4000)
        XCTAssertEqual(directoryEntries(dir), [])
    }

    func testFramingErrorsAre400AndRemoveEarlierFiles() {
        let good = multipartBody([(["Content-Disposition: form-data; name=audio; filename=a"], Array("abc".utf8))])
        let truncated = Array(good.dropLast(2)) // no closing `--`
        assertFails(truncated, status: .badRequest)
        let noName = multipartBody([
            (["Content-Disposition: form-data; name=audio; filename=a"], Array("abc".utf8)),
            (["Content-Disposition: form-data"], Array("x".utf8)),
        ])
        assertFails(noName, status: .badRequest)
    }

    func testHeaderLimitsAre413() {
        let longLine = multipartBody([(["Content-Disposition: form-data; name=audio; filename=\"" + String(repeating: "n", count: 9000) + "\""], [])])
        assertFails(longLine, status: .payloadTooLarge)
        let parts = multipartBody((0..<65).map { field("f\($0)", "x") })
        assertFails(parts, status: .payloadTooLarge)
        XCTAssertNoThrow(try read(RecordingBody(multipartBody((0..<64).map { field("f\($0)", "x") }))))
    }

    func testContentTypeErrors() {
        let body = multipartBody([field("metadata", "x")])
        assertFails(body, status: .unsupportedMediaType, contentType: "application/json")
        assertFails(body, status: .badRequest, contentType: "multipart/form-data")
    }

    func testMissingContentTypeIs415() {
        let recording = RecordingBody(multipartBody([field("metadata", "x")]))
        XCTAssertThrowsError(try MultipartReader.read(recording, contentType: nil, tempDirectory: dir, policy: standardPolicy)) {
            XCTAssertEqual(($0 as? HTTPError)?.status, .unsupportedMediaType)
        }
        XCTAssertEqual(recording.offset, 0, "refused before reading the body")
    }

    func testClientAbortRemovesFilesAndRethrows() {
        let body = multipartBody([
            (["Content-Disposition: form-data; name=audio; filename=a"], [UInt8](repeating: 1, count: 500)),
            (["Content-Disposition: form-data; name=transcript; filename=t"], [UInt8](repeating: 2, count: 90)),
        ])
        // Fail at every point: inside the first file, between parts, inside the second.
        for failAt in stride(from: 0, to: body.count, by: 37) {
            let recording = RecordingBody(body, maxRead: 64, failAt: failAt)
            XCTAssertThrowsError(try read(recording)) {
                XCTAssertEqual(($0 as? HTTPError)?.detail, "client closed the connection")
            }
            XCTAssertEqual(recording.readsAfterFailure, 0, "read again after the body failed")
            XCTAssertEqual(directoryEntries(dir), [], "at \(failAt)")
        }
    }

    func testReadsIn64KiBChunks() throws {
        let recording = RecordingBody(multipartBody([field("metadata", "x")]))
        _ = try read(recording)
        XCTAssertEqual(recording.largestRequest, 64 * 1024)
    }

    func testMissingTemporaryDirectoryIsCreated() throws {
        let nested = dir + "/tmp"
        let body = multipartBody([(["Content-Disposition: form-data; name=audio; filename=a"], Array("abc".utf8))])
        let form = try MultipartReader.read(RecordingBody(body), contentType: contentType, tempDirectory: nested, policy: standardPolicy)
        XCTAssertEqual(file(form["audio"])?.size, 3)
        var info = stat()
        XCTAssertEqual(stat(nested, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o700)
    }

    func testUnwritableTemporaryDirectoryIs503() {
        let body = multipartBody([(["Content-Disposition: form-data; name=audio; filename=a"], Array("abc".utf8))])
        let recording = RecordingBody(body)
        XCTAssertThrowsError(try MultipartReader.read(recording, contentType: contentType, tempDirectory: dir + "/no/such/dir",
                                                      policy: standardPolicy)) {
            XCTAssertEqual(($0 as? HTTPError)?.status, .serviceUnavailable)
        }
        XCTAssertTrue(recording.fullyRead)
    }
}
