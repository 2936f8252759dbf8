import Foundation
import JSON
import Storage
import XCTest
@testable import API

final class SettingsRoutesTests: XCTestCase {
    let defaults = #"{"macro_phrases":[],"custom_vocabulary":[],"transcription_profiles":[]}"#

    func post(_ h: Harness, _ body: String, as user: String = "auth0|alice", ifMatch: String? = nil) -> Reply {
        var headers = [("Content-Type", "application/json")]
        if let ifMatch { headers.append(("If-Match", ifMatch)) }
        return h.send("POST", "/api/v1/user_settings", as: user, headers: headers, body: Array(body.utf8))
    }

    func testDefaultsWhenNoneStored() {
        let h = Harness()
        let r = h.send("GET", "/api/v1/user_settings/auth0%7Calice")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, defaults)
        XCTAssertEqual(r.header("ETag"), "\"none\"")
        XCTAssertEqual(r.header("Content-Type"), "application/json")
        XCTAssertNotNil(r.header("X-Request-ID"))
    }

    func testSaveKeepsUnknownKeysAndOrderAndReadsBack() {
        let h = Harness()
        let settings = #"{"theme":"dark","custom_vocabulary":["Kubernetes","gRPC"],"macro_phrases":[{"k":"v"}],"n":1.50}"#
        let saved = post(h, #"{"user_id":"auth0|alice","settings":"# + settings + "}")
        XCTAssertEqual(saved.status, 200, saved.text)
        XCTAssertEqual(saved.text, settings)
        let etag = saved.header("ETag")
        XCTAssertNotNil(etag)
        XCTAssertTrue(etag!.hasPrefix("\"") && etag!.hasSuffix("\""))
        let read = h.send("GET", "/api/v1/user_settings/auth0|alice")
        XCTAssertEqual(read.status, 200)
        XCTAssertEqual(read.text, settings)
        XCTAssertEqual(read.header("ETag"), etag)
        XCTAssertEqual(h.scratch.files(under: "uploads"), ["user_settings/auth0|alice/settings.json"])
    }

    func testUserIDMayBeOmittedOrEmpty() {
        let h = Harness()
        XCTAssertEqual(post(h, #"{"settings":{"a":1}}"#).status, 200)
        XCTAssertEqual(post(h, #"{"user_id":"","settings":{"a":2}}"#).status, 200)
        XCTAssertEqual(post(h, #"{"user_id":null,"settings":{"a":3}}"#).status, 200)
        XCTAssertEqual(h.send("GET", "/api/v1/user_settings/auth0|alice").text, #"{"a":3}"#)
    }

    func testIfMatch() {
        let h = Harness()
        let first = post(h, #"{"settings":{"v":1}}"#, ifMatch: "\"none\"")
        XCTAssertEqual(first.status, 200, "the defaults' ETag means nothing stored yet")
        let etag = first.header("ETag")!
        XCTAssertEqual(post(h, #"{"settings":{"v":0}}"#, ifMatch: "\"none\"").status, 412)
        let second = post(h, #"{"settings":{"v":2}}"#, ifMatch: "W/" + etag)
        XCTAssertEqual(second.status, 200, "weak prefix and quotes are ignored")
        let stale = post(h, #"{"settings":{"v":3}}"#, ifMatch: etag)
        XCTAssertEqual(stale.status, 412)
        XCTAssertFalse(stale.detail.isEmpty)
        XCTAssertEqual(post(h, #"{"settings":{"v":4}}"#, ifMatch: "\"x\", " + second.header("ETag")!).status, 200)
        XCTAssertEqual(post(h, #"{"settings":{"v":5}}"#, ifMatch: "*").status, 200)
        XCTAssertEqual(h.send("GET", "/api/v1/user_settings/auth0|alice").text, #"{"v":5}"#)
        XCTAssertEqual(post(h, #"{"settings":{"v":6}}"#).status, 200, "no If-Match: unconditional")
    }

    func testIfMatchStarNeedsStoredSettings() {
        let h = Harness()
        XCTAssertEqual(post(h, #"{"settings":{}}"#, ifMatch: "*").status, 412)
    }

    func testCorruptStoredSettingsAnswerDefaultsAndCanBeReplaced() throws {
        let h = Harness()
        _ = try h.local.put(key: "user_settings/auth0|alice/settings.json", bytes: Array("{broken".utf8), contentType: "x", condition: .none)
        let r = h.send("GET", "/api/v1/user_settings/auth0|alice")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, defaults)
        XCTAssertNotEqual(r.header("ETag"), "\"none\"")
        XCTAssertEqual(post(h, #"{"settings":{"fixed":true}}"#, ifMatch: r.header("ETag")).status, 200)
        XCTAssertEqual(h.send("GET", "/api/v1/user_settings/auth0|alice").text, #"{"fixed":true}"#)
    }

    func testValidation() {
        let h = Harness()
        XCTAssertEqual(post(h, "{not json").status, 400)
        XCTAssertEqual(post(h, "").status, 400)
        XCTAssertEqual(post(h, "[]").status, 422)
        XCTAssertEqual(post(h, #"{"user_id":"auth0|alice"}"#).status, 422)
        XCTAssertEqual(post(h, #"{"settings":[]}"#).status, 422)
        XCTAssertEqual(post(h, #"{"settings":null}"#).status, 422)
        XCTAssertEqual(post(h, #"{"settings":{"macro_phrases":"x"}}"#).status, 422)
        XCTAssertEqual(post(h, #"{"settings":{"transcription_profiles":{}}}"#).status, 422)
        XCTAssertEqual(post(h, #"{"settings":{"custom_vocabulary":["a",1]}}"#).status, 422)
        XCTAssertEqual(post(h, #"{"user_id":7,"settings":{}}"#).status, 422)
        XCTAssertEqual(post(h, #"{"user_id":"../x","settings":{}}"#).status, 422)
        let r = post(h, #"{"user_id":"auth0|mallory","settings":{}}"#)
        XCTAssertEqual(r.status, 403)
        XCTAssertFalse(r.detail.isEmpty)
        XCTAssertEqual(h.scratch.files(under: "uploads"), [])
    }

    func testSizeLimit() {
        let h = Harness()
        let big = String(repeating: "x", count: 256 * 1024)
        XCTAssertEqual(post(h, #"{"settings":{"notes":""# + big + #""}}"#).status, 413)
        let huge = String(repeating: " ", count: 300 * 1024)
        XCTAssertEqual(post(h, #"{"settings":{}}"# + huge).status, 413)
        let fits = String(repeating: "x", count: 250 * 1024)
        XCTAssertEqual(post(h, #"{"settings":{"notes":""# + fits + #""}}"#).status, 200)
    }

    func testAuthAndOwnership() {
        let h = Harness()
        let anonymous = h.send("GET", "/api/v1/user_settings/auth0|alice", as: nil)
        XCTAssertEqual(anonymous.status, 401)
        XCTAssertNotNil(anonymous.header("WWW-Authenticate"))
        XCTAssertEqual(h.send("POST", "/api/v1/user_settings", as: nil, body: Array(#"{"settings":{}}"#.utf8)).status, 401)
        XCTAssertEqual(h.send("GET", "/api/v1/user_settings/auth0|bob").status, 403)
        XCTAssertEqual(h.send("GET", "/api/v1/user_settings/..").status, 422)
        XCTAssertEqual(h.send("GET", "/api/v1/user_settings/a%2F..%2Fb").status, 422)
        XCTAssertEqual(h.send("GET", "/api/v1/user_settings/..", as: "..").status, 422, "422 comes before 403 and storage")
    }

    func testStorageDownIs503NeverDefaults() {
        var remote: DownStore!
        let h = Harness(configure: { $0.savesToS3 = true; $0.bucket = "bucket" }) { local in
            remote = DownStore(LocalStore(root: local.root + "-s3"))
            return StorageService(active: remote, others: [local], fallback: local)
        }
        remote.down = true
        let read = h.send("GET", "/api/v1/user_settings/auth0|alice")
        XCTAssertEqual(read.status, 503)
        XCTAssertNotNil(read.header("Retry-After"))
        XCTAssertFalse(read.detail.isEmpty)
        XCTAssertEqual(post(h, #"{"settings":{"a":1}}"#).status, 503)
        XCTAssertEqual(post(h, #"{"settings":{"a":1}}"#, ifMatch: "\"none\"").status, 503)
        XCTAssertEqual(h.scratch.files(under: "uploads"), [], "settings never fall back")
    }

    func testAnOlderCopyInTheOtherStoreIsShownUntilTheFirstSaveAndNeverWhileTheActiveIsDown() throws {
        var remote: DownStore!
        let h = Harness(configure: { $0.savesToS3 = true; $0.bucket = "bucket" }) { local in
            remote = DownStore(LocalStore(root: local.root + "-s3"))
            return StorageService(active: remote, others: [local], fallback: local)
        }
        _ = try h.local.put(key: "user_settings/auth0|alice/settings.json", bytes: Array(#"{"from":"local"}"#.utf8), contentType: "x", condition: .none)
        let read = h.send("GET", "/api/v1/user_settings/auth0|alice")
        XCTAssertEqual(read.text, #"{"from":"local"}"#)
        remote.down = true
        XCTAssertEqual(h.send("GET", "/api/v1/user_settings/auth0|alice").status, 503)
        remote.down = false
        XCTAssertEqual(post(h, #"{"settings":{"from":"s3"}}"#, ifMatch: read.header("ETag")).status, 200)
        XCTAssertEqual(h.send("GET", "/api/v1/user_settings/auth0|alice").text, #"{"from":"s3"}"#)
        XCTAssertEqual(try remote.inner.get(key: "user_settings/auth0|alice/settings.json").bytes, Array(#"{"from":"s3"}"#.utf8))
    }
}
