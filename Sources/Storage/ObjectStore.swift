import Foundation

/// What a store knows of one object without reading it.
public struct ObjectInfo: Sendable, Equatable {
    public var key: String
    public var size: Int64
    public var lastModified: Date
    /// Changes whenever the content may have changed; stable across processes.
    public var etag: String

    public init(key: String, size: Int64, lastModified: Date, etag: String) {
        self.key = key
        self.size = size
        self.lastModified = lastModified
        self.etag = etag
    }
}

public enum StoreKind: String, Sendable {
    case local, s3
}

public enum StorageError: Error, Equatable, CustomStringConvertible {
    case notFound(String)
    /// A create-only write found the key taken (the 409 rule).
    case alreadyExists(String)
    /// An `If-Match` write found another ETag (412).
    case preconditionFailed(String)
    /// A key that would leave its prefix, or that the store cannot hold.
    case invalidKey(String)
    /// The store cannot be reached or refused us (503, or fallback); why, as data.
    case unavailable(StoreFailure)

    public var description: String {
        switch self {
        case .notFound(let k): "not found: \(k)"
        case .alreadyExists(let k): "already exists: \(k)"
        case .preconditionFailed(let k): "precondition failed: \(k)"
        case .invalidKey(let k): "invalid key: \(k)"
        case .unavailable(let r): "storage unavailable: \(r)"
        }
    }
}

public enum WriteCondition: Sendable, Equatable {
    case none
    /// Only if nothing is stored under the key yet.
    case createOnly
    /// Only if the stored object still has this ETag.
    case ifMatch(String)
}

/// An upload already on local disk (the multipart temp file), with what was
/// computed while it was written, so no store has to read it twice.
public struct StagedFile: Sendable {
    public let path: String
    public let size: Int64
    /// Lowercase hex SHA-256 of the content.
    public let sha256: String

    public init(path: String, size: Int64, sha256: String) {
        self.path = path
        self.size = size
        self.sha256 = sha256
    }
}

/// An inclusive byte range, already resolved against the object's size.
public struct ByteRange: Sendable, Equatable {
    public let first: Int64
    public let last: Int64
    public init(first: Int64, last: Int64) { self.first = first; self.last = last }
    public var length: Int64 { last - first + 1 }
}

/// One key space, two implementations (local disk, S3). Keys are the layout of
/// API.md (`user_recordings/...`, `user_settings/...`); callers build them only
/// from validated ids, and every store refuses a key that could escape its root.
///
/// Every method throws `StorageError`.
public protocol ObjectStore: Sendable {
    var kind: StoreKind { get }

    /// Stores a staged file. The store may take the file (a rename); the caller
    /// removes `file.path` afterwards if it is still there.
    func put(key: String, file: StagedFile, contentType: String, condition: WriteCondition) throws -> ObjectInfo

    /// Stores a small object held in memory.
    func put(key: String, bytes: [UInt8], contentType: String, condition: WriteCondition) throws -> ObjectInfo

    /// Reads a small object whole. Throws `.notFound`.
    func get(key: String) throws -> (bytes: [UInt8], info: ObjectInfo)

    /// Reads many small objects; S3 fetches them concurrently (bounded). One result per key.
    func getMany(keys: [String]) -> [String: Result<[UInt8], StorageError>]

    /// Nil when absent.
    func head(key: String) throws -> ObjectInfo?

    /// Every object whose key starts with `prefix`, in key order.
    func list(prefix: String) throws -> [ObjectInfo]

    /// Like `list(prefix:)`, only the objects whose last key segment is `fileName`
    /// (a store that can skip the others cheaply does).
    func list(prefix: String, fileName: String) throws -> [ObjectInfo]

    /// Deletes every object under `prefix`; returns how many there were.
    func delete(prefix: String) throws -> Int

    /// Streams an object (or a range of it) to `sink` in chunks. Throws `.notFound`.
    func read(key: String, range: ByteRange?, into sink: (UnsafeRawBufferPointer) throws -> Void) throws

    /// A path the front end may serve directly (local store), else nil.
    func localPath(key: String) -> String?

    /// A presigned GET URL valid `seconds` (S3), else nil.
    func presignedURL(key: String, seconds: Int) -> String?

    /// Cheap reachability check for `/readyz`; throws `.unavailable`.
    func checkReachable() throws

    /// Copies an object of this store (`source.store` is this store's kind) to
    /// `key`, server-side. Stores that cannot refuse with `.unavailable`.
    func copy(_ source: StoredCopySource, to key: String, contentType: String, condition: WriteCondition) throws -> ObjectInfo
}

/// An object to copy within one store: its key, and what was computed when it was
/// written, so the copy needs no read.
public struct StoredCopySource: Sendable {
    public let store: StoreKind
    public let key: String
    public let size: Int64
    /// Lowercase hex SHA-256 of the content.
    public let sha256: String

    public init(store: StoreKind, key: String, size: Int64, sha256: String) {
        self.store = store
        self.key = key
        self.size = size
        self.sha256 = sha256
    }
}

extension ObjectStore {
    /// Copies an object of this store to `key` without the bytes passing through
    /// this process. Stores that cannot do that refuse with `.unavailable`.
    public func copy(_ source: StoredCopySource, to key: String, contentType: String, condition: WriteCondition) throws -> ObjectInfo {
        throw StorageError.unavailable("the \(kind.rawValue) store cannot copy \(source.key) server-side")
    }

    public func list(prefix: String, fileName: String) throws -> [ObjectInfo] {
        let suffix = "/" + fileName
        return try list(prefix: prefix).filter { $0.key.hasSuffix(suffix) || $0.key == fileName }
    }
}
