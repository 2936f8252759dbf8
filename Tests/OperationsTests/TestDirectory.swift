import Foundation

/// A fresh directory for one test, removed with everything in it afterwards.
final class TestDirectory {
    let path: String

    init() {
        path = FileManager.default.temporaryDirectory.path + "/operations-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
