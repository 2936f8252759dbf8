/// How the reader treats a part, chosen by its name.
public enum PartPolicy: Sendable {
    /// Kept in memory; more than `maxBytes` → 413.
    case text(maxBytes: Int)
    /// Streamed to a temporary file; more than `maxBytes` → 413.
    case file(maxBytes: Int64)
    /// A part with a filename becomes a file, any other text; either way at most `maxBytes`.
    case textOrFile(maxBytes: Int)
    /// Read and discarded (unknown fields).
    case ignore
}

/// A file part as stored while reading.
public struct UploadedFile: Sendable {
    /// The temporary file; owned by its `MultipartForm` until taken.
    public let path: String
    public let size: Int64
    /// Lowercase hex, computed while writing.
    public let sha256: String
    /// The first bytes (up to 64), for sniffing the format.
    public let prefix: [UInt8]
    public let filename: String?
    public let contentType: String?

    public init(path: String, size: Int64, sha256: String, prefix: [UInt8], filename: String? = nil, contentType: String? = nil) {
        self.path = path
        self.size = size
        self.sha256 = sha256
        self.prefix = prefix
        self.filename = filename
        self.contentType = contentType
    }

    /// How many leading bytes `prefix` keeps.
    public static let prefixLength = 64
}

public enum FormValue: Sendable {
    case text([UInt8])
    case file(UploadedFile)
}
