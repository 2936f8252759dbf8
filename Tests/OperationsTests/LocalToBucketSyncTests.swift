import API
import Foundation
import Operations
import Storage
import XCTest

/// The sync from a local store into a bucket double (a local store that reads, never takes, what it is given).
final class LocalToBucketSyncTests: XCTestCase {
    var directory: TestDirectory!
    var local: LocalStore!
    var bucketFiles: LocalStore!
    var bucket: BucketDouble!
    var lines: [String] = []

    override func setUp() {
        directory = TestDirectory()
        local = LocalStore(root: directory.path + "/local")
        bucketFiles = LocalStore(root: directory.path + "/bucket")
        bucket = BucketDouble(bucketFiles)
        lines = []
    }

    override func tearDown() {
        local = nil
        bucket = nil
        bucketFiles = nil
        directory = nil
    }

    func put(_ store: any ObjectStore, _ key: String, _ text: String) throws {
        _ = try store.put(key: key, bytes: Array(text.utf8), contentType: "application/octet-stream", condition: .none)
    }

    func sync(dryRun: Bool = false) -> LocalToBucketSync.Summary {
        LocalToBucketSync(local: local, bucket: bucket, dryRun: dryRun) { self.lines.append($0) }.run()
    }

    func saveRecording(in store: any ObjectStore, user: String, session: String, transcript: String = "hello") throws {
        try put(store, Layout.audioKey(user, session, .webm), "audio bytes of \(session)")
        try put(store, Layout.transcriptKey(user, session), transcript)
        try put(store, Layout.metadataKey(user, session), #"{"session_id":"\#(session)"}"#)
    }

    func testMovesRecordingsAndSettingsVerifiedAndEmptiesTheLocalStore() throws {
        try saveRecording(in: local, user: "u1", session: "s1")
        try saveRecording(in: local, user: "u1", session: "s2")
        try put(local, Layout.settingsKey("u1"), #"{"theme":"dark"}"#)

        let summary = sync()

        XCTAssertTrue(summary.succeeded, "\(lines)")
        XCTAssertEqual(summary.moved, 3)
        XCTAssertEqual(summary.failed, 0)
        XCTAssertEqual(try local.list(prefix: ""), [])
        XCTAssertEqual(try bucket.get(key: Layout.transcriptKey("u1", "s2")).bytes, Array("hello".utf8))
        XCTAssertEqual(try bucket.get(key: Layout.settingsKey("u1")).bytes, Array(#"{"theme":"dark"}"#.utf8))
        XCTAssertNotNil(try bucket.head(key: Layout.metadataKey("u1", "s1")))
        XCTAssertEqual(lines.count, 3)
        XCTAssertTrue(lines.allSatisfy { $0.hasPrefix("moved ") }, "\(lines)")
    }

    func testDryRunChangesNothing() throws {
        try saveRecording(in: local, user: "u1", session: "s1")
        let summary = sync(dryRun: true)
        XCTAssertEqual(summary.moved, 1)
        XCTAssertEqual(try local.list(prefix: "").count, 3)
        XCTAssertEqual(try bucket.list(prefix: ""), [])
        XCTAssertEqual(lines, ["would move user_recordings/u1/s1/ (3 objects, 3 to copy)"])
    }

    func testAConflictingObjectInTheBucketLeavesTheGroupInPlace() throws {
        try saveRecording(in: local, user: "u1", session: "s1", transcript: "local words")
        try put(bucket, Layout.transcriptKey("u1", "s1"), "other words")

        let summary = sync()

        XCTAssertFalse(summary.succeeded)
        XCTAssertEqual(summary.failed, 1)
        XCTAssertEqual(try local.list(prefix: "").count, 3, "nothing local may be deleted on a conflict")
        XCTAssertEqual(try bucket.get(key: Layout.transcriptKey("u1", "s1")).bytes, Array("other words".utf8),
                       "the bucket's object is never overwritten")
        XCTAssertEqual(lines.count, 1)
        XCTAssertTrue(lines[0].hasPrefix("FAILED user_recordings/u1/s1/: the bucket already holds a different transcript.txt"), lines[0])
    }

    func testAGroupAlreadyCompleteInTheBucketIsOnlyRemovedLocally() throws {
        try saveRecording(in: local, user: "u1", session: "s1")
        try saveRecording(in: bucket, user: "u1", session: "s1")

        let summary = sync()

        XCTAssertEqual(summary.alreadyThere, 1)
        XCTAssertEqual(summary.moved, 0)
        XCTAssertEqual(try local.list(prefix: ""), [])
        XCTAssertEqual(try bucket.list(prefix: "").count, 3)
    }

    func testAnUnfinishedSaveIsSkippedAndKept() throws {
        try put(local, Layout.audioKey("u1", "s1", .webm), "audio without metadata")

        let summary = sync()

        XCTAssertEqual(summary.skipped, 1)
        XCTAssertTrue(summary.succeeded)
        XCTAssertEqual(try local.list(prefix: "").count, 1)
        XCTAssertEqual(try bucket.list(prefix: ""), [])
        XCTAssertEqual(lines, ["skipped user_recordings/u1/s1/: no session_metadata.json (an unfinished save); left in place"])
    }

    func testLeftoversOfAnInterruptedMoveAreRemoved() throws {
        // A run killed after deleting the local metadata: the bucket has it all.
        try saveRecording(in: bucket, user: "u1", session: "s1")
        try put(local, Layout.audioKey("u1", "s1", .webm), "audio bytes of s1")

        let summary = sync()

        XCTAssertEqual(summary.alreadyThere, 1)
        XCTAssertEqual(try local.list(prefix: ""), [])
    }

    func testAnUnreachableBucketStopsTheRunAndDeletesNothing() throws {
        try saveRecording(in: local, user: "u1", session: "s1")
        try saveRecording(in: local, user: "u2", session: "s1")
        bucket.down = true

        let summary = sync()

        XCTAssertFalse(summary.succeeded)
        XCTAssertEqual(summary.failed, 1, "the first group fails, the rest are not tried")
        XCTAssertEqual(summary.aborted, "the bucket cannot be reached (connection refused); stopped at user_recordings/u1/s1/, run sync again later")
        XCTAssertEqual(try local.list(prefix: "").count, 6)
        XCTAssertEqual(lines, ["FAILED user_recordings/u1/s1/: the bucket cannot be reached; left in place"])
    }

    func testGroupsByRecordingAndBySettingsUserInKeyOrder() {
        func info(_ key: String) -> ObjectInfo { ObjectInfo(key: key, size: 1, lastModified: Date(), etag: key) }
        let recordings = [
            "user_recordings/a/s1/audio.webm", "user_recordings/a/s1/session_metadata.json",
            "user_recordings/a/s2/transcript.txt", "user_recordings/b/s1/audio.wav",
            "user_recordings/too-short",
        ].map(info)
        let groups = LocalToBucketSync.groups(in: recordings, area: Layout.recordingsArea)
        XCTAssertEqual(groups.map(\.prefix), ["user_recordings/a/s1/", "user_recordings/a/s2/", "user_recordings/b/s1/"])
        XCTAssertEqual(groups.map(\.objects.count), [2, 1, 1])

        let settings = ["user_settings/a/settings.json", "user_settings/b/settings.json", "user_settings/b/other"].map(info)
        let settingsGroups = LocalToBucketSync.groups(in: settings, area: Layout.settingsArea)
        XCTAssertEqual(settingsGroups.map(\.prefix), ["user_settings/a/", "user_settings/b/"])
        XCTAssertEqual(settingsGroups.map(\.objects.count), [1, 2])
    }

    func testContentTypesFollowTheObjectName() {
        XCTAssertEqual(LocalToBucketSync.contentType(of: "audio.wav"), AudioFormat.wav.contentType)
        XCTAssertEqual(LocalToBucketSync.contentType(of: Layout.metadataName), "application/json")
        XCTAssertEqual(LocalToBucketSync.contentType(of: Layout.transcriptName), "text/plain; charset=utf-8")
        XCTAssertEqual(LocalToBucketSync.contentType(of: "audio.unknown"), "application/octet-stream")
    }

    func testObjectDigestIsSizeAndSHA256() throws {
        try put(local, "user_settings/u/settings.json", "abc")
        let digest = try ObjectDigest.of("user_settings/u/settings.json", in: local)
        XCTAssertEqual(digest, ObjectDigest(size: 3, sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"))
    }
}
