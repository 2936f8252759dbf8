import XCTest
@testable import Storage

final class StorageKeyTests: XCTestCase {
    func testLayoutKeysAreValid() {
        for key in [
            "user_recordings/auth0|5f7c8ec7c33c6c004bbafe82/20261121T233339Z-1a2b3c4d/audio.wav",
            "user_recordings/google-oauth2|1034/s.1_x-y/transcript.txt",
            "user_settings/a@b.c+d/settings.json",
            "user_recordings/.hidden-user/s/session_metadata.json",
        ] {
            XCTAssertTrue(StorageKey.isValid(key), key)
        }
    }

    func testEscapesAndForeignCharactersAreRefused() {
        for key in [
            "", "/etc/passwd", "user_recordings/../etc/passwd", "user_recordings/u/../../x",
            "user_recordings/./x", "user_recordings//x", "user_recordings/x/", "user_recordings/a%2F..%2Fb/x",
            "user_recordings/a\u{0}b/x", "user_recordings/a\\..\\b/x", "user_recordings/\u{FF0E}\u{FF0E}/x",
            "user_recordings/a\u{2215}b/x", "user_recordings/\u{2024}\u{2024}/x", "user_recordings/a b/x",
            ".tmp/x", "..", ".", "user_recordings/a~b/x",
            String(repeating: "a", count: 256) + "/x", String(repeating: "a/", count: 600) + "a",
        ] {
            XCTAssertFalse(StorageKey.isValid(key), key.debugDescription)
        }
    }

    func testPrefixes() {
        XCTAssertTrue(StorageKey.isValidPrefix(""))
        XCTAssertTrue(StorageKey.isValidPrefix("user_recordings/u/"))
        XCTAssertTrue(StorageKey.isValidPrefix("user_recordings/u/s"))
        XCTAssertFalse(StorageKey.isValidPrefix("/"))
        XCTAssertFalse(StorageKey.isValidPrefix("user_recordings/../"))
        XCTAssertFalse(StorageKey.isValidPrefix("user_recordings//"))
        XCTAssertFalse(StorageKey.isValidPrefix(".tmp/"))
    }
}
