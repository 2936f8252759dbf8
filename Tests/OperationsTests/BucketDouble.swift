import Foundation
import Storage

/// A bucket stand-in over a LocalStore. Like S3 it reads a staged file and never
/// takes it (LocalStore may rename it away, which would empty the local side of a
/// sync), and it can become unreachable.
final class BucketDouble: ObjectStore, @unchecked Sendable {
    let inner: LocalStore
    let kind = StoreKind.s3
    private let lock = NSLock()
    private var _down = false

    init(_ inner: LocalStore) { self.inner = inner }

    var down: Bool {
        get { lock.lock(); defer { lock.unlock() }; return _down }
        set { lock.lock(); _down = newValue; lock.unlock() }
    }

    private func check() throws {
        if down { throw StorageError.unavailable(StoreFailure(.unreachable, "connection refused")) }
    }

    func put(key: String, file: StagedFile, contentType: String, condition: WriteCondition) throws -> ObjectInfo {
        try check()
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file.path)))
        return try inner.put(key: key, bytes: bytes, contentType: contentType, condition: condition)
    }
    func put(key: String, bytes: [UInt8], contentType: String, condition: WriteCondition) throws -> ObjectInfo {
        try check(); return try inner.put(key: key, bytes: bytes, contentType: contentType, condition: condition)
    }
    func get(key: String) throws -> (bytes: [UInt8], info: ObjectInfo) { try check(); return try inner.get(key: key) }
    func getMany(keys: [String]) -> [String: Result<[UInt8], StorageError>] {
        if down { return Dictionary(uniqueKeysWithValues: keys.map { ($0, .failure(.unavailable("connection refused"))) }) }
        return inner.getMany(keys: keys)
    }
    func head(key: String) throws -> ObjectInfo? { try check(); return try inner.head(key: key) }
    func list(prefix: String) throws -> [ObjectInfo] { try check(); return try inner.list(prefix: prefix) }
    func list(prefix: String, fileName: String) throws -> [ObjectInfo] { try check(); return try inner.list(prefix: prefix, fileName: fileName) }
    func delete(prefix: String) throws -> Int { try check(); return try inner.delete(prefix: prefix) }
    func read(key: String, range: ByteRange?, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        try check(); try inner.read(key: key, range: range, into: sink)
    }
    func localPath(key: String) -> String? { nil }
    func presignedURL(key: String, seconds: Int) -> String? { nil }
    func checkReachable() throws { try check() }
    func copy(_ source: StoredCopySource, to key: String, contentType: String, condition: WriteCondition) throws -> ObjectInfo {
        throw StorageError.unavailable("no server-side copy in the double")
    }
}
