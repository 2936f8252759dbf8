import Foundation

/// Why an append or a lookup of a resumable upload was refused. Each case is one
/// status of the tus protocol; the API maps them.
public enum UploadRefusal: Error, Equatable, CustomStringConvertible {
    /// No such upload for this owner, or it expired (404).
    case notFound
    /// `Upload-Offset` is not the stored offset (409).
    case offsetMismatch(stored: Int64)
    /// Another request is appending to this upload right now (409).
    case busy
    /// The body would pass `Upload-Length` (413); nothing was stored.
    case pastLength(length: Int64)

    public var description: String {
        switch self {
        case .notFound: "no such upload"
        case .offsetMismatch(let stored): "offset mismatch (stored \(stored))"
        case .busy: "another request is appending"
        case .pastLength(let length): "body passes the upload length \(length)"
        }
    }
}

/// Where resumable uploads live while they are incomplete: in the active store, so
/// any host can continue an upload another host began (S3), and `Upload-Offset`
/// only ever counts bytes that are durably stored.
///
/// Every method may throw `StorageError.unavailable` (503): a store that fails
/// mid-append leaves the stored offset where it was, never past what is durable.
public protocol UploadStore: Sendable {
    /// Creates an empty upload from `record` (offset 0).
    func create(_ record: UploadRecord) throws

    /// The upload's state; nil when there is none (whatever its owner or expiry:
    /// the caller decides what those mean).
    func record(id: String) throws -> UploadRecord?

    /// Appends the request body at `offset`, which must be the stored offset, for
    /// `owner`, before the upload expired at `now`. Bytes are written as they are
    /// read (`readBody` returns 0 at the end; it throws when the client went away).
    /// The record returned has the new offset and `expires`.
    ///
    /// When `readBody` throws, what arrived before is made durable and counted,
    /// then the error is rethrown. Throws `UploadRefusal` (nothing changed).
    func append(id: String, owner: String, at offset: Int64, now: Date, expires: Date,
                readBody: (UnsafeMutableRawBufferPointer) throws -> Int) throws -> UploadRecord

    /// The complete upload as content a save can store at `key` of the active store
    /// without the bytes passing through this process again (a local file to link,
    /// an object to copy server-side).
    func content(of record: UploadRecord) throws -> NewObject.Content

    /// Removes the upload and everything that belongs to it; absent is fine.
    func remove(id: String) throws

    /// Removes every upload that expired before `now`; returns how many.
    func sweep(now: Date) throws -> Int
}

/// Ids are 128 random bits as 32 lowercase hex digits: unguessable, and safe in
/// any key or file name.
public enum UploadID {
    public static func isValid(_ id: String) -> Bool {
        id.utf8.count == 32 && id.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    public static func make() -> String {
        var g = SystemRandomNumberGenerator()
        func hex(_ v: UInt64) -> String {
            let s = String(v, radix: 16)
            return String(repeating: "0", count: 16 - s.count) + s
        }
        return hex(g.next()) + hex(g.next())
    }
}
