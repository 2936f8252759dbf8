import Foundation
import HTTP
import JSON
import Storage
import XCTest
@testable import API

final class SaveRecordingTests: XCTestCase {
    func testSaveStoresTheLayoutAndAnswersRecordingInfo() throws {
        let h = Harness()
        let wav = Samples.wav(seconds: 2.5)
        let r = h.save([
            .file("audio", wav, filename: "a.bin", type: "application/octet-stream"),
            .text("transcript", "héllo wörld"),
            .text("metadata", #"{"name":"Standup","tags":["work","daily"],"notes":"n","mood":{"x":[1,2.50]},"session_id":"spoof","storage":"s3"}"#),
            .text("session_id", "s1"),
            .text("user_id", "auth0|alice"),
            .text("ignored", "whatever"),
        ])
        XCTAssertEqual(r.status, 201, r.text)
        let info = r.json
        XCTAssertEqual(info.objectValue?.keys, ["session_id", "user_id", "name", "date", "duration", "tags", "notes", "storage",
                                                 "audio_key", "transcript_key", "audio_content_type", "audio_bytes", "audio_url", "transcript_url"])
        XCTAssertEqual(info["session_id"], .string("s1"))
        XCTAssertEqual(info["user_id"], .string("auth0|alice"))
        XCTAssertEqual(info["name"], .string("Standup"))
        XCTAssertEqual(info["date"], .string("2026-11-18T11:06:40Z"))
        XCTAssertEqual(info["duration"], .number("2.5"))
        XCTAssertEqual(info["tags"], .array([.string("work"), .string("daily")]))
        XCTAssertEqual(info["storage"], .string("local"))
        XCTAssertEqual(info["audio_key"], .string("user_recordings/auth0|alice/s1/audio.wav"))
        XCTAssertEqual(info["transcript_key"], .string("user_recordings/auth0|alice/s1/transcript.txt"))
        XCTAssertEqual(info["audio_content_type"], .string("audio/wav"))
        XCTAssertEqual(info["audio_bytes"], .number(String(wav.count)))
        XCTAssertEqual(info["audio_url"], .string("/api/v1/recordings/auth0%7Calice/s1/audio"))
        XCTAssertEqual(info["transcript_url"], .string("/api/v1/recordings/auth0%7Calice/s1/transcript"))

        XCTAssertEqual(h.scratch.files(under: "uploads"), [
            "user_recordings/auth0|alice/s1/audio.wav", "user_recordings/auth0|alice/s1/session_metadata.json",
            "user_recordings/auth0|alice/s1/transcript.txt",
        ], "no temporary file is left")
        XCTAssertEqual(try h.local.get(key: "user_recordings/auth0|alice/s1/audio.wav").bytes, wav)
        XCTAssertEqual(try h.local.get(key: "user_recordings/auth0|alice/s1/transcript.txt").bytes, Array("héllo wörld".utf8))

        let stored = try JSON.parse(h.local.get(key: "user_recordings/auth0|alice/s1/session_metadata.json").bytes)
        XCTAssertEqual(stored.objectValue?.keys, ["session_id", "user_id", "name", "created_at", "duration", "tags", "notes",
                                                   "audio_key", "audio_content_type", "audio_bytes", "audio_sha256",
                                                   "transcript_key", "transcript_bytes", "storage", "mood"])
        XCTAssertEqual(stored["session_id"], .string("s1"), "the server's keys win over the client's")
        XCTAssertEqual(stored["storage"], .string("local"))
        XCTAssertEqual(stored["created_at"], .string("2026-11-18T11:06:40Z"))
        XCTAssertEqual(stored["mood"]?.serialized(), #"{"x":[1,2.50]}"#, "other keys are kept as given")
        XCTAssertEqual(stored["transcript_bytes"], .number(String("héllo wörld".utf8.count)))
        XCTAssertEqual(stored["audio_sha256"]?.stringValue?.count, 64)
    }

    func testDefaultsAndGeneratedSessionID() throws {
        let h = Harness()
        let r = h.save([.file("audio", Samples.ogg), .text("session_id", ""), .text("user_id", ""), .text("metadata", "")])
        XCTAssertEqual(r.status, 201, r.text)
        let session = try XCTUnwrap(r.json["session_id"]?.stringValue)
        XCTAssertNotNil(session.range(of: #"^20261118T110640Z-[0-9a-f]{8}$"#, options: .regularExpression), session)
        XCTAssertEqual(r.json["name"], .string(session))
        XCTAssertEqual(r.json["duration"], .null, "only WAV durations are measured")
        XCTAssertEqual(r.json["tags"], .array([]))
        XCTAssertEqual(r.json["notes"], .string(""))
        XCTAssertEqual(r.json["audio_content_type"], .string("audio/ogg"))
        XCTAssertEqual(try h.local.get(key: "user_recordings/auth0|alice/\(session)/transcript.txt").bytes, [])
    }

    func testClientDurationWinsOverTheHeaderAndTranscriptMayBeAFile() throws {
        let h = Harness()
        let r = h.save([.file("audio", Samples.wav(seconds: 1)), .text("metadata", #"{"duration":61.50}"#),
                        .file("transcript", Array("from a file".utf8), filename: "t.txt", type: "text/plain"), .text("session_id", "s2")])
        XCTAssertEqual(r.status, 201, r.text)
        XCTAssertEqual(r.json["duration"], .number("61.50"))
        XCTAssertEqual(try h.local.get(key: "user_recordings/auth0|alice/s2/transcript.txt").bytes, Array("from a file".utf8))
        XCTAssertEqual(h.scratch.files(under: "uploads/.tmp"), [])
    }

    func testExistingSessionIs409AndTheOriginalUntouched() throws {
        let h = Harness()
        XCTAssertEqual(h.save([.file("audio", Samples.ogg), .text("transcript", "first"), .text("session_id", "dup")]).status, 201)
        let before = try h.local.get(key: "user_recordings/auth0|alice/dup/session_metadata.json")
        for audio in [Samples.ogg, Samples.wav(seconds: 1)] {
            let r = h.save([.file("audio", audio), .text("transcript", "second"), .text("session_id", "dup")])
            XCTAssertEqual(r.status, 409)
            XCTAssertTrue(r.detail.contains("dup"), r.detail)
        }
        XCTAssertEqual(try h.local.get(key: "user_recordings/auth0|alice/dup/transcript.txt").bytes, Array("first".utf8))
        XCTAssertEqual(try h.local.get(key: "user_recordings/auth0|alice/dup/session_metadata.json").info, before.info)
        XCTAssertEqual(h.scratch.files(under: "uploads/user_recordings/auth0|alice/dup"), ["audio.ogg", "session_metadata.json", "transcript.txt"])
        XCTAssertEqual(h.scratch.files(under: "uploads/.tmp"), [])
    }

    func testClientErrors() {
        let h = Harness(configure: { $0.maxUploadBytes = 4096 })
        func status(_ parts: [Part], as user: String? = "auth0|alice") -> Int {
            let r = h.save(parts, as: user)
            XCTAssertFalse(r.detail.isEmpty, "every error has a detail")
            return r.status
        }
        let audio = Part.file("audio", Samples.ogg)
        XCTAssertEqual(status([audio], as: nil), 401)
        XCTAssertEqual(status([audio, .text("user_id", "auth0|bob")]), 403)
        XCTAssertEqual(status([audio, .text("user_id", "auth0|bob"), .text("session_id", "a/b")]), 422, "ids are checked before ownership")
        XCTAssertEqual(status([audio, .text("user_id", "auth0/../bob")]), 422)
        XCTAssertEqual(status([audio, .text("session_id", "../x")]), 422)
        XCTAssertEqual(status([audio, .text("session_id", ".hidden")]), 422)
        XCTAssertEqual(status([audio, .text("session_id", String(repeating: "s", count: 65))]), 422)
        XCTAssertEqual(status([audio, .text("metadata", "{not json")]), 422)
        XCTAssertEqual(status([audio, .text("metadata", "[1]")]), 422)
        XCTAssertEqual(status([audio, .text("metadata", #"{"name":5}"#)]), 422)
        XCTAssertEqual(status([audio, .text("metadata", #"{"duration":"61"}"#)]), 422)
        XCTAssertEqual(status([audio, .text("metadata", #"{"tags":["a",1]}"#)]), 422)
        XCTAssertEqual(status([audio, .text("metadata", #"{"notes":[]}"#)]), 422)
        XCTAssertEqual(status([audio, Part(name: "transcript", value: [0x61, 0xFF, 0x62])]), 422)
        XCTAssertEqual(status([audio, Part(name: "transcript", value: [0xC0, 0xAF], filename: "t.txt")]), 422)
        XCTAssertEqual(status([.text("transcript", "no audio")]), 422)
        XCTAssertEqual(status([.file("audio", Array("just some text, not audio".utf8))]), 415)
        XCTAssertEqual(status([.file("audio", [])]), 415)
        XCTAssertEqual(status([.file("audio", Samples.ogg + [UInt8](repeating: 0, count: 5000))]), 413)
        XCTAssertEqual(status([audio, .text("metadata", "{\"notes\":\"" + String(repeating: "x", count: 64 * 1024) + "\"}")]), 413)
        // Framing and media type.
        XCTAssertEqual(h.send("POST", "/api/v1/save_recording_details", headers: [("Content-Type", "application/json")], body: Array("{}".utf8)).status, 415)
        XCTAssertEqual(h.send("POST", "/api/v1/save_recording_details", body: Array("x".utf8)).status, 415)
        XCTAssertEqual(h.send("POST", "/api/v1/save_recording_details", headers: [("Content-Type", "multipart/form-data")]).status, 400)
        XCTAssertEqual(h.send("POST", "/api/v1/save_recording_details", headers: [("Content-Type", "multipart/form-data; boundary=b")],
                              body: Array("--b\r\nContent-Disposition: form-data; name=\"audio\"\r\n\r\nOggS tr".utf8)).status, 400)
        XCTAssertEqual(h.scratch.files(under: "uploads"), [], "nothing stored, no temporary file left")
    }

    func testLeftoversOfADeadWorkerAreSweptAtStart() throws {
        let scratch = Scratch()
        let temp = scratch.path + "/uploads/.tmp"
        try FileManager.default.createDirectory(atPath: temp, withIntermediateDirectories: true)
        // A pid past Linux's largest (pid_max ≤ 2^22): a writer that cannot be running.
        let dead = temp + "/upload-4194304-1-0123456789abcdef.part"
        XCTAssertTrue(FileManager.default.createFile(atPath: dead, contents: Data("x".utf8)))
        let local = LocalStore(root: scratch.path + "/uploads")
        let context = APIContext(options: APIOptions(), authenticator: FakeAuthenticator(),
                                 storage: StorageService(active: local), temporaryDirectory: local.temporaryDirectory)
        APIRoutes.register(on: Router(), context: context)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dead))
    }

    func testTranscriptLimit() {
        let h = Harness()
        let big = [UInt8](repeating: 0x61, count: 10 * 1024 * 1024 + 1)
        XCTAssertEqual(h.save([.file("audio", Samples.ogg), Part(name: "transcript", value: big)]).status, 413)
        XCTAssertEqual(h.save([.file("audio", Samples.ogg), Part(name: "transcript", value: big, filename: "t.txt")]).status, 413)
        XCTAssertEqual(h.scratch.files(under: "uploads"), [])
    }

    func testS3ModeFallsBackToLocalAndReadsBoth() throws {
        var remote: DownStore!
        let h = Harness(configure: { $0.savesToS3 = true; $0.bucket = "bucket" }) { local in
            remote = DownStore(LocalStore(root: local.root + "-s3"))
            return StorageService(active: remote, others: [local], fallback: local)
        }
        let inS3 = h.save([.file("audio", Samples.webm), .text("session_id", "a")])
        XCTAssertEqual(inS3.status, 201, inS3.text)
        XCTAssertEqual(inS3.json["storage"], .string("s3"))
        remote.down = true
        let fallback = h.save([.file("audio", Samples.webm), .text("session_id", "b")])
        XCTAssertEqual(fallback.status, 201, fallback.text)
        XCTAssertEqual(fallback.json["storage"], .string("local"))
        let stored = try JSON.parse(h.local.get(key: "user_recordings/auth0|alice/b/session_metadata.json").bytes)
        XCTAssertEqual(stored["storage"], .string("local"))
        XCTAssertEqual(h.scratch.files(under: "uploads/.tmp"), [])

        // Down: the listing is 503, never partial; the local recording is still served.
        XCTAssertEqual(h.send("GET", "/api/v1/user_recordings/auth0|alice").status, 503)
        XCTAssertEqual(h.send("GET", "/api/v1/recordings/auth0|alice/b").status, 200)
        XCTAssertEqual(h.send("GET", "/api/v1/recordings/auth0|alice/a").status, 503, "unknown, not absent")
        remote.down = false
        let list = h.send("GET", "/api/v1/user_recordings/auth0|alice")
        XCTAssertEqual(list.status, 200)
        XCTAssertEqual(list.json.arrayValue?.compactMap { $0["storage"]?.stringValue }, ["local", "s3"], "b then a (same second, by id)")
        // The 409 rule sees both stores.
        XCTAssertEqual(h.save([.file("audio", Samples.webm), .text("session_id", "b")]).status, 409)
        XCTAssertEqual(h.save([.file("audio", Samples.webm), .text("session_id", "a")]).status, 409)
        // The fallback audio is downloadable, the S3 one redirects.
        let audio = h.send("GET", "/api/v1/recordings/auth0|alice/b/audio")
        XCTAssertEqual(audio.status, 200)
        XCTAssertEqual(audio.body, Samples.webm)
        let redirect = h.send("GET", "/api/v1/recordings/auth0|alice/a/audio")
        XCTAssertEqual(redirect.status, 302)
        XCTAssertEqual(redirect.header("Location"), "https://bucket.example/user_recordings/auth0|alice/a/audio.webm?X-Amz-Expires=900")
        // Delete reaches every store.
        XCTAssertEqual(h.send("DELETE", "/api/v1/recordings/auth0|alice/b").json["deleted_objects"], .number("3"))
        XCTAssertEqual(h.send("DELETE", "/api/v1/recordings/auth0|alice/a").json["deleted_objects"], .number("3"))
        XCTAssertEqual(try remote.inner.list(prefix: ""), [])
    }

    func testWithoutFallbackAnUnreachableStoreIs503() {
        var remote: DownStore!
        let h = Harness(configure: { $0.savesToS3 = true; $0.bucket = "bucket"; $0.fallbackToLocal = false }) { local in
            remote = DownStore(LocalStore(root: local.root + "-s3"))
            return StorageService(active: remote, others: [local])
        }
        remote.down = true
        let r = h.save([.file("audio", Samples.webm), .text("session_id", "a")])
        XCTAssertEqual(r.status, 503)
        XCTAssertNotNil(r.header("Retry-After"))
        XCTAssertEqual(h.scratch.files(under: "uploads"), [])
    }
}
