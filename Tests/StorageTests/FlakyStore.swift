import Foundation
@testable import Storage

/// A store double over a real LocalStore that can pretend to be another kind,
/// become unreachable, fail part-way through a save, and count what it is asked.
final class FlakyStore: ObjectStore, @unchecked Sendable {
    let inner: LocalStore
    let kind: StoreKind
    private let lock = NSLock()
    private var _down = false
    private var _putsBeforeFailure: Int?
    private var _getManyKeys = 0
    private var _failAfterPut: String?
    private var _readsDown = false

    init(_ inner: LocalStore, kind: StoreKind = .s3) {
        self.inner = inner
        self.kind = kind
    }

    var down: Bool {
        get { lock.lock(); defer { lock.unlock() }; return _down }
        set { lock.lock(); _down = newValue; lock.unlock() }
    }
    /// After this many successful puts every put fails as unavailable (other calls still work).
    var putsBeforeFailure: Int? {
        get { lock.lock(); defer { lock.unlock() }; return _putsBeforeFailure }
        set { lock.lock(); _putsBeforeFailure = newValue; lock.unlock() }
    }
    /// A put of a key ending in this lands, then reports unavailable (an answer lost on the way).
    var failAfterPut: String? {
        get { lock.lock(); defer { lock.unlock() }; return _failAfterPut }
        set { lock.lock(); _failAfterPut = newValue; lock.unlock() }
    }
    /// Gets fail as unavailable (reading back a commit cannot tell).
    var readsDown: Bool {
        get { lock.lock(); defer { lock.unlock() }; return _readsDown }
        set { lock.lock(); _readsDown = newValue; lock.unlock() }
    }
    var getManyKeys: Int { lock.lock(); defer { lock.unlock() }; return _getManyKeys }

    private func check() throws {
        if down { throw StorageError.unavailable("test double is down") }
    }

    private func countPut() throws {
        try check()
        lock.lock(); defer { lock.unlock() }
        if let n = _putsBeforeFailure {
            if n == 0 { throw StorageError.unavailable("test double failed mid-save") }
            _putsBeforeFailure = n - 1
        }
    }

    func put(key: String, file: StagedFile, contentType: String, condition: WriteCondition) throws -> ObjectInfo {
        try countPut()
        // Like S3: the staged file is read, not taken.
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: file.path)))
        return try inner.put(key: key, bytes: bytes, contentType: contentType, condition: condition)
    }
    func put(key: String, bytes: [UInt8], contentType: String, condition: WriteCondition) throws -> ObjectInfo {
        try countPut()
        let info = try inner.put(key: key, bytes: bytes, contentType: contentType, condition: condition)
        if let suffix = failAfterPut, key.hasSuffix(suffix) { throw StorageError.unavailable(StoreFailure(.unreachable, "answer lost")) }
        return info
    }
    func get(key: String) throws -> (bytes: [UInt8], info: ObjectInfo) {
        try check()
        if readsDown { throw StorageError.unavailable(StoreFailure(.unreachable, "reads are down")) }
        return try inner.get(key: key)
    }
    func getMany(keys: [String]) -> [String: Result<[UInt8], StorageError>] {
        lock.lock(); _getManyKeys += keys.count; lock.unlock()
        if down { return Dictionary(uniqueKeysWithValues: keys.map { ($0, .failure(.unavailable("down"))) }) }
        return inner.getMany(keys: keys)
    }
    func head(key: String) throws -> ObjectInfo? { try check(); return try inner.head(key: key) }
    func list(prefix: String) throws -> [ObjectInfo] { try check(); return try inner.list(prefix: prefix) }
    func list(prefix: String, fileName: String) throws -> [ObjectInfo] { try check(); return try inner.list(prefix: prefix, fileName: fileName) }
    func delete(prefix: String) throws -> Int { try check(); return try inner.delete(prefix: prefix) }
    func read(key: String, range: ByteRange?, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        try check()
        try inner.read(key: key, range: range, into: sink)
    }
    func localPath(key: String) -> String? { nil }
    func presignedURL(key: String, seconds: Int) -> String? { nil }
    func checkReachable() throws { try check() }
}
