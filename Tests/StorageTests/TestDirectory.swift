import Foundation

/// A fresh directory for one test, removed with everything in it afterwards.
final class TestDirectory {
    let path: String

    init() {
        path = FileManager.default.temporaryDirectory.path + "/storage-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Every file path under the directory, relative to it, sorted.
    func allFiles() -> [String] {
        guard let e = FileManager.default.enumerator(atPath: path) else { return [] }
        var files: [String] = []
        while let relative = e.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path + "/" + relative, isDirectory: &isDirectory), !isDirectory.boolValue {
                files.append(relative)
            }
        }
        return files.sorted()
    }

    func write(_ relative: String, _ text: String) -> String {
        let p = path + "/" + relative
        try! FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try! Data(text.utf8).write(to: URL(fileURLWithPath: p))
        return p
    }
}
