import Storage

/// Keys an S3 store accepts: the layout's keys, never one that a URL parser or a
/// proxy could read as another (dot segments, empty segments, control characters).
enum S3Keys {
    static func check(_ key: String) throws(StorageError) {
        try checkPrefix(key)
        guard !key.hasSuffix("/") else { throw .invalidKey(key) }
    }

    /// A prefix may end with `/`; it is never empty (that would be the whole bucket).
    static func checkPrefix(_ prefix: String) throws(StorageError) {
        guard !prefix.isEmpty, prefix.utf8.count <= 1024, !prefix.hasPrefix("/"),
              prefix.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7F }) else { throw .invalidKey(prefix) }
        let segments = prefix.split(separator: "/", omittingEmptySubsequences: false)
        for (i, s) in segments.enumerated() {
            if s == "." || s == ".." { throw .invalidKey(prefix) }
            if s.isEmpty && i != segments.count - 1 { throw .invalidKey(prefix) }
        }
    }
}
