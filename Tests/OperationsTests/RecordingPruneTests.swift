import API
import Foundation
import Operations
import Storage
import XCTest

final class RecordingPruneTests: XCTestCase {
    var directory: TestDirectory!
    var store: LocalStore!
    var lines: [String] = []

    override func setUp() {
        directory = TestDirectory()
        store = LocalStore(root: directory.path + "/root")
        lines = []
    }

    override func tearDown() {
        store = nil
        directory = nil
    }

    /// A saved recording whose metadata was written `daysAgo` days ago.
    func save(_ user: String, _ session: String, daysAgo: Double) throws {
        for key in [Layout.audioKey(user, session, .wav), Layout.metadataKey(user, session)] {
            _ = try store.put(key: key, bytes: Array("x".utf8), contentType: "application/octet-stream", condition: .none)
        }
        let path = store.localPath(key: Layout.metadataKey(user, session))!
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-daysAgo * 86_400)], ofItemAtPath: path)
    }

    func prune(olderThanDays days: Double, dryRun: Bool = false) throws -> RecordingPrune.Outcome {
        let cutoff = Date().addingTimeInterval(-days * 86_400)
        return try RecordingPrune(store: store, cutoff: cutoff, dryRun: dryRun) { self.lines.append($0) }.run()
    }

    func testDeletesOnlyRecordingsWhoseMetadataIsOlderThanTheCutoff() throws {
        try save("u1", "old", daysAgo: 40)
        try save("u1", "new", daysAgo: 1)
        try save("u2", "old", daysAgo: 31)

        let outcome = try prune(olderThanDays: 30)

        XCTAssertEqual(outcome.deleted, 2)
        XCTAssertEqual(outcome.objects, 4)
        XCTAssertEqual(outcome.failed, 0)
        XCTAssertEqual(try store.list(prefix: Layout.recordingsArea).map(\.key).sorted(),
                       [Layout.audioKey("u1", "new", .wav), Layout.metadataKey("u1", "new")].sorted())
        XCTAssertEqual(lines.count, 2)
        XCTAssertTrue(lines.allSatisfy { $0.hasPrefix("deleted local user_recordings/") && $0.contains("(2 objects, metadata of ") }, "\(lines)")
    }

    func testDryRunDeletesNothing() throws {
        try save("u1", "old", daysAgo: 40)
        let outcome = try prune(olderThanDays: 30, dryRun: true)
        XCTAssertEqual(outcome.deleted, 1)
        XCTAssertEqual(outcome.objects, 0)
        XCTAssertEqual(try store.list(prefix: "").count, 2)
        XCTAssertEqual(lines.count, 1)
        XCTAssertTrue(lines[0].hasPrefix("would delete local user_recordings/u1/old/"), lines[0])
    }

    func testRecordingPrefixOnlyForMetadataKeysOfExactlyThatShape() {
        XCTAssertEqual(RecordingPrune.recordingPrefix(ofMetadataKey: "user_recordings/u/s/session_metadata.json"), "user_recordings/u/s/")
        XCTAssertNil(RecordingPrune.recordingPrefix(ofMetadataKey: "user_recordings/u/s/x/session_metadata.json"))
        XCTAssertNil(RecordingPrune.recordingPrefix(ofMetadataKey: "user_recordings/u/../session_metadata.json"))
        XCTAssertNil(RecordingPrune.recordingPrefix(ofMetadataKey: "user_recordings//s/session_metadata.json"))
        XCTAssertNil(RecordingPrune.recordingPrefix(ofMetadataKey: "user_settings/u/s/session_metadata.json"))
        XCTAssertNil(RecordingPrune.recordingPrefix(ofMetadataKey: "user_recordings/u/s/transcript.txt"))
    }
}
