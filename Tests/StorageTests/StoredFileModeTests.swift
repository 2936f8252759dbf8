import Foundation
import XCTest
@testable import Storage

/// Stored files follow the process's umask (0640 under the units' UMask=0027), never
/// a fixed world-readable mode.
final class StoredFileModeTests: XCTestCase {
    func testModeIsTheUmaskOfTheProcess() throws {
        // Reading the umask the racy way is fine in a test: nothing else creates files now.
        let mask = umask(0o022)
        umask(mask)
        XCTAssertEqual(StoredFileModeTests.procUmask(), mask)
        XCTAssertEqual(StoredFileMode.value, 0o666 & ~mask)
    }

    func testStoredFilesGetThatMode() throws {
        let directory = TestDirectory()
        let store = LocalStore(root: directory.path + "/root")
        let key = "user_settings/auth0|abc/settings.json"
        _ = try store.put(key: key, bytes: Array("{}".utf8), contentType: "application/json", condition: .none)
        var st = stat()
        XCTAssertEqual(stat(directory.path + "/root/" + key, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, StoredFileMode.value)
        XCTAssertEqual(st.st_mode & 0o002, 0, "never world-writable")
    }

    static func procUmask() -> mode_t { StoredFileMode.currentUmask() }
}
