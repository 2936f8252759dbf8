import HTTP

/// Collects a text part in memory, refusing more than its limit.
final class TextPartSink {
    private let name: String
    private let maxBytes: Int
    private(set) var bytes: [UInt8] = []

    init(name: String, maxBytes: Int) {
        self.name = name
        self.maxBytes = maxBytes
    }

    func append(_ chunk: UnsafeRawBufferPointer) throws {
        guard chunk.count <= maxBytes - bytes.count else {
            throw HTTPError(.payloadTooLarge, "part '\(name)' is larger than \(maxBytes) bytes")
        }
        bytes.append(contentsOf: chunk)
    }
}
