import Foundation
@testable import Storage

/// A store whose create-only writes are check-then-put, as moto's are, with a
/// hook between the check and the put: a test parks a write there to force the
/// interleaving in which two saves both pass the check.
final class NonAtomicStore: ObjectStore, @unchecked Sendable {
    let inner: LocalStore
    let kind: StoreKind = .s3
    /// Called after a create-only write of a key ending in `pauseSuffix` passed its check.
    var betweenCheckAndPut: (@Sendable (String) -> Void)?
    var pauseSuffix = "/audio.wav"

    init(_ inner: LocalStore) { self.inner = inner }

    private func checkThenPut(_ key: String, _ condition: WriteCondition, _ put: () throws -> ObjectInfo) throws -> ObjectInfo {
        guard condition == .createOnly else { return try put() }
        if try inner.head(key: key) != nil { throw StorageError.alreadyExists(key) }
        if key.hasSuffix(pauseSuffix) { betweenCheckAndPut?(key) }
        // The put itself is unconditional: whoever lands last wins.
        _ = try? inner.delete(prefix: key)
        return try put()
    }

    func put(key: String, file: StagedFile, contentType: String, condition: WriteCondition) throws -> ObjectInfo {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: file.path)))
        return try put(key: key, bytes: bytes, contentType: contentType, condition: condition)
    }
    func put(key: String, bytes: [UInt8], contentType: String, condition: WriteCondition) throws -> ObjectInfo {
        try checkThenPut(key, condition) { try inner.put(key: key, bytes: bytes, contentType: contentType, condition: .none) }
    }
    func get(key: String) throws -> (bytes: [UInt8], info: ObjectInfo) { try inner.get(key: key) }
    func getMany(keys: [String]) -> [String: Result<[UInt8], StorageError>] { inner.getMany(keys: keys) }
    func head(key: String) throws -> ObjectInfo? { try inner.head(key: key) }
    func list(prefix: String) throws -> [ObjectInfo] { try inner.list(prefix: prefix) }
    func delete(prefix: String) throws -> Int { try inner.delete(prefix: prefix) }
    func read(key: String, range: ByteRange?, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        try inner.read(key: key, range: range, into: sink)
    }
    func localPath(key: String) -> String? { nil }
    func presignedURL(key: String, seconds: Int) -> String? { nil }
    func checkReachable() throws {}
}
