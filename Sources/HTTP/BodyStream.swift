/// The request body as a pull stream. Read it to EOF: the transport does not trust
/// CONTENT_LENGTH (chunked bodies arrive without one).
public protocol BodyStream: AnyObject {
    /// Reads up to `buffer.count` bytes; returns 0 only at end of body.
    /// Throws `HTTPError` (e.g. 400) when the client aborted mid-body.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

extension BodyStream {
    /// Reads the whole body, refusing more than `limit` bytes with 413 at once (the
    /// transport discards a bounded rest, never the whole body).
    public func readAll(limit: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try read(into: $0) }
            if n == 0 { return out }
            if out.count + n > limit {
                throw HTTPError(.payloadTooLarge, "request body larger than \(limit) bytes")
            }
            out.append(contentsOf: chunk[0..<n])
        }
    }

    /// Reads and discards the rest of the body; returns how many bytes that was.
    @discardableResult
    public func drain() throws -> Int {
        var total = 0
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try read(into: $0) }
            if n == 0 { return total }
            total += n
        }
    }
}

/// A body held in memory: for tests and for requests with no body.
public final class BufferedBody: BodyStream {
    private let bytes: [UInt8]
    private var offset = 0
    /// Largest read returned, so tests can feed bodies in small pieces.
    private let maxRead: Int

    public init(_ bytes: [UInt8] = [], maxRead: Int = .max) {
        self.bytes = bytes
        self.maxRead = max(1, maxRead)
    }

    public convenience init(_ text: String) { self.init(Array(text.utf8)) }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, bytes.count - offset, maxRead)
        guard n > 0 else { return 0 }
        bytes.withUnsafeBytes { src in
            buffer.baseAddress!.copyMemory(from: src.baseAddress! + offset, byteCount: n)
        }
        offset += n
        return n
    }
}
