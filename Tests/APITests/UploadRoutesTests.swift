import Foundation
import HTTP
import JSON
import Storage
import XCTest
@testable import API

final class TusHeadersTests: XCTestCase {
    func request(_ headers: [(String, String)]) -> Request { Request(method: "POST", target: "/", headers: Headers(headers)) }

    func testVersionMustBe100() {
        XCTAssertNoThrow(try TusHeaders.checkVersion(request([("Tus-Resumable", "1.0.0")])))
        for bad in [[], [("Tus-Resumable", "0.2.2")], [("Tus-Resumable", "")]] {
            XCTAssertThrowsError(try TusHeaders.checkVersion(request(bad))) {
                XCTAssertEqual(($0 as? HTTPError)?.status, .preconditionFailed)
                XCTAssertEqual(($0 as? HTTPError)?.headers["Tus-Version"], "1.0.0")
            }
        }
    }

    func testIntegersAreStrict() throws {
        XCTAssertEqual(try TusHeaders.integer(request([("Upload-Length", "42")]), "Upload-Length"), 42)
        XCTAssertNil(try TusHeaders.integer(request([]), "Upload-Length"))
        for bad in ["-1", "+1", "1e3", "0x10", "", "1 2", "99999999999999999999"] {
            XCTAssertThrowsError(try TusHeaders.integer(request([("Upload-Length", bad)]), "Upload-Length"), bad)
        }
    }

    func testMetadataPairs() throws {
        XCTAssertEqual(try TusHeaders.metadata(request([("Upload-Metadata", "filename YS53YXY=,is_confidential")])),
                       "filename YS53YXY=,is_confidential")
        XCTAssertNil(try TusHeaders.metadata(request([])))
        for bad in ["filename not*base64", "a YQ==,a YQ==", " , ", "k v w", String(repeating: "k", count: 5000)] {
            XCTAssertThrowsError(try TusHeaders.metadata(request([("Upload-Metadata", bad)])), bad)
        }
    }

    func testOffsetContentType() {
        XCTAssertTrue(TusHeaders.hasOffsetBody(request([("Content-Type", "application/offset+octet-stream")])))
        XCTAssertTrue(TusHeaders.hasOffsetBody(request([("Content-Type", "Application/Offset+Octet-Stream; x=1")])))
        XCTAssertFalse(TusHeaders.hasOffsetBody(request([("Content-Type", "application/octet-stream")])))
        XCTAssertFalse(TusHeaders.hasOffsetBody(request([])))
    }

    func testUploadReferences() {
        let id = "0123456789abcdef0123456789abcdef"
        XCTAssertEqual(TusHeaders.uploadID(reference: id), id)
        XCTAssertEqual(TusHeaders.uploadID(reference: "/api/v1/uploads/" + id), id)
        XCTAssertEqual(TusHeaders.uploadID(reference: "https://rec.example/api/v1/uploads/" + id + "?x#y"), id)
        XCTAssertNil(TusHeaders.uploadID(reference: "https://rec.example/elsewhere/" + id))
    }

    func testHTTPDate() {
        XCTAssertEqual(IMFFixdate.format(Date(timeIntervalSince1970: 784_111_777)), "Sun, 06 Nov 1994 08:49:37 GMT")
    }
}

final class UploadRoutesTests: XCTestCase {
    let tus = [("Tus-Resumable", "1.0.0")]

    func create(_ h: Harness, length: Int, as user: String = "auth0|alice") -> String {
        let r = h.send("POST", "/api/v1/uploads", as: user, headers: tus + [("Upload-Length", String(length))])
        XCTAssertEqual(r.response.status.rawValue, 201)
        return r.header("Location") ?? ""
    }

    func patch(_ h: Harness, _ location: String, at offset: Int, _ bytes: [UInt8], as user: String = "auth0|alice") -> Reply {
        h.send("PATCH", location, as: user, headers: tus + [("Upload-Offset", String(offset)),
                                                          ("Content-Type", "application/offset+octet-stream")], body: bytes)
    }

    func testOptionsNeedNoToken() {
        let h = Harness()
        let r = h.send("OPTIONS", "/api/v1/uploads", as: nil)
        XCTAssertEqual(r.response.status.rawValue, 204)
        XCTAssertEqual(r.header("Tus-Extension"), "creation,creation-with-upload,termination,expiration")
        XCTAssertEqual(r.header("Tus-Max-Size"), "536870912")
    }

    func testUploadThenSaveByReference() throws {
        let h = Harness()
        let audio = Samples.wav(seconds: 0.5)
        let location = create(h, length: audio.count)
        XCTAssertTrue(location.hasPrefix("/api/v1/uploads/"))
        var r = patch(h, location, at: 0, Array(audio[0..<100]))
        XCTAssertEqual(r.response.status.rawValue, 204)
        XCTAssertEqual(r.header("Upload-Offset"), "100")
        XCTAssertEqual(h.save([.text("audio_upload", location)]).response.status.rawValue, 409)
        r = patch(h, location, at: 100, Array(audio[100...]))
        XCTAssertEqual(r.header("Upload-Offset"), String(audio.count))
        r = h.send("HEAD", location, headers: tus)
        XCTAssertEqual(r.response.status.rawValue, 200)
        XCTAssertEqual(r.header("Cache-Control"), "no-store")
        XCTAssertEqual(h.save([.text("audio_upload", location)], as: "auth0|mallory").response.status.rawValue, 404)
        r = h.save([.text("audio_upload", location), .text("session_id", "s1")])
        XCTAssertEqual(r.response.status.rawValue, 201, String(decoding: r.body, as: UTF8.self))
        let stored = try Data(contentsOf: URL(fileURLWithPath: h.local.root + "/user_recordings/auth0|alice/s1/audio.wav"))
        XCTAssertEqual([UInt8](stored), audio)
        XCTAssertEqual(h.send("HEAD", location, headers: tus).response.status.rawValue, 404)
        XCTAssertEqual(h.scratch.files(under: "uploads/.uploads"), [])
    }

    func testMethodOverrideForClientsThatCannotPatch() {
        let h = Harness()
        let location = create(h, length: 3)
        var r = h.send("POST", location, headers: tus + [("X-HTTP-Method-Override", "PATCH"), ("Upload-Offset", "0"),
                                                         ("Content-Type", "application/offset+octet-stream")], body: [1, 2, 3])
        XCTAssertEqual(r.response.status.rawValue, 204)
        XCTAssertEqual(r.header("Upload-Offset"), "3")
        r = h.send("POST", location, headers: tus)
        XCTAssertEqual(r.response.status.rawValue, 405)
        r = h.send("POST", location, headers: tus + [("X-HTTP-Method-Override", "DELETE")])
        XCTAssertEqual(r.response.status.rawValue, 204)
        XCTAssertEqual(h.send("HEAD", location, headers: tus).response.status.rawValue, 404)
    }

    func testExpiredUploadsAreGone() {
        let h = Harness()
        let location = create(h, length: 10)
        h.clock.advance(86_401)
        let r = h.send("HEAD", location, headers: tus)
        XCTAssertEqual(r.response.status.rawValue, 404)
        XCTAssertEqual(r.header("Tus-Resumable"), "1.0.0")
        XCTAssertEqual(h.scratch.files(under: "uploads/.uploads"), [])
    }
}
