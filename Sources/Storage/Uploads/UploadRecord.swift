import Digests
import Foundation
import JSON

/// The state of one resumable upload, kept beside its bytes in the store (the
/// `.info` document): who owns it, how long it will be, how much is durably stored,
/// when it expires, and the running SHA-256 of the stored bytes.
public struct UploadRecord: Sendable, Equatable {
    /// How many leading bytes `head` keeps: enough to sniff the format and to read
    /// a WAV header, so a save by reference never reads the upload back.
    public static let headLength = 4096

    public var id: String
    public var owner: String
    public var length: Int64
    public var offset: Int64 = 0
    /// `Upload-Metadata` as the client sent it (already checked).
    public var metadata: String?
    public var created: Date
    public var expires: Date
    public var hash = SHA256State()
    /// The upload's first bytes (up to `headLength`).
    public var head: [UInt8] = []
    /// What a particular store keeps about its own layout (S3: the multipart upload).
    public var backend = JSONObject()

    public init(id: String, owner: String, length: Int64, metadata: String?, created: Date, expires: Date) {
        self.id = id
        self.owner = owner
        self.length = length
        self.metadata = metadata
        self.created = created
        self.expires = expires
    }

    public var isComplete: Bool { offset == length }

    /// Counts bytes just stored at `offset`: the hash, the head, the offset.
    public mutating func absorb(_ bytes: UnsafeRawBufferPointer) {
        hash.update(bytes)
        if head.count < Self.headLength {
            head += bytes.prefix(Self.headLength - head.count)
        }
        offset += Int64(bytes.count)
    }

    public var json: JSON {
        var o = JSONObject([
            ("id", .string(id)),
            ("owner", .string(owner)),
            ("length", .number(String(length))),
            ("offset", .number(String(offset))),
            ("created", .number(String(Int64(created.timeIntervalSince1970 * 1000)))),
            ("expires", .number(String(Int64(expires.timeIntervalSince1970 * 1000)))),
            ("sha256_state", .string(hash.serialized)),
            ("head", .string(Data(head).base64EncodedString())),
            ("backend", .object(backend)),
        ])
        if let metadata { o["metadata"] = .string(metadata) }
        return .object(o)
    }

    public var bytes: [UInt8] { json.bytes }

    /// Nil when the document is not a record this code wrote.
    public init?(bytes: [UInt8]) {
        guard let json = try? JSON.parse(bytes), let o = json.objectValue,
              let id = o["id"]?.stringValue, UploadID.isValid(id),
              let owner = o["owner"]?.stringValue,
              let length = Self.integer(o["length"]), let offset = Self.integer(o["offset"]),
              length >= 0, (0...length).contains(offset),
              let created = Self.integer(o["created"]), let expires = Self.integer(o["expires"]),
              let state = o["sha256_state"]?.stringValue, let hash = SHA256State(serialized: state),
              let headText = o["head"]?.stringValue, let head = Data(base64Encoded: headText) else { return nil }
        self.id = id
        self.owner = owner
        self.length = length
        self.offset = offset
        self.metadata = o["metadata"]?.stringValue
        self.created = Date(timeIntervalSince1970: Double(created) / 1000)
        self.expires = Date(timeIntervalSince1970: Double(expires) / 1000)
        self.hash = hash
        self.head = [UInt8](head)
        self.backend = o["backend"]?.objectValue ?? JSONObject()
    }

    static func integer(_ value: JSON?) -> Int64? {
        guard case .number(let text)? = value else { return nil }
        return Int64(text)
    }
}
