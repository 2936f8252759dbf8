/// Bounds on what a multipart body may make the parser hold or do. Crossing one is a 413.
public struct MultipartLimits: Sendable {
    /// Longest header line of a part (without its CRLF).
    public var maxHeaderLineBytes: Int
    /// Header lines per part.
    public var maxHeadersPerPart: Int
    /// Parts per body, ignored ones included.
    public var maxParts: Int

    public init(maxHeaderLineBytes: Int = 8192, maxHeadersPerPart: Int = 16, maxParts: Int = 64) {
        self.maxHeaderLineBytes = maxHeaderLineBytes
        self.maxHeadersPerPart = maxHeadersPerPart
        self.maxParts = maxParts
    }
}
