/// The audio containers a recording may be in, recognised from their first bytes
/// (never from a client's filename or Content-Type). The raw value is the stored
/// file's extension.
public enum AudioFormat: String, Sendable, CaseIterable {
    case wav, webm, ogg, mp3, m4a, flac

    public var contentType: String {
        switch self {
        case .wav: "audio/wav"
        case .webm: "audio/webm"
        case .ogg: "audio/ogg"
        case .mp3: "audio/mpeg"
        case .m4a: "audio/mp4"
        case .flac: "audio/flac"
        }
    }

    /// The format of a file that starts with `prefix` (64 bytes are plenty), or nil.
    public static func sniff(_ prefix: [UInt8]) -> AudioFormat? {
        let p = prefix
        if p.starts(with: "RIFF"), p.count >= 12, p[8..<12].elementsEqual("WAVE".utf8) { return .wav }
        if p.starts(with: [0x1A, 0x45, 0xDF, 0xA3]) { return .webm } // EBML: WebM and Matroska
        if p.starts(with: "OggS") { return .ogg }
        if p.starts(with: "fLaC") { return .flac }
        if p.starts(with: "ID3") { return afterID3Tag(p) }
        if isMPEGFrameHeader(p) { return .mp3 }
        if p.count >= 12, p[4..<8].elementsEqual("ftyp".utf8), !imageBrands.contains(Array(p[8..<12])) { return .m4a }
        return nil
    }

    /// An ID3v2 tag is how MP3 files usually start, but FLAC files may carry one too:
    /// when the tag is short enough to see past, what follows decides.
    private static func afterID3Tag(_ p: [UInt8]) -> AudioFormat {
        guard p.count >= 10, p[6..<10].allSatisfy({ $0 < 0x80 }) else { return .mp3 }
        // A syncsafe size (7 bits per byte), plus 10 for a footer when flagged.
        var end = 10 + (Int(p[6]) << 21 | Int(p[7]) << 14 | Int(p[8]) << 7 | Int(p[9]))
        if p[5] & 0x10 != 0 { end += 10 }
        if end + 4 <= p.count, p[end..<end + 4].elementsEqual("fLaC".utf8) { return .flac }
        return .mp3
    }

    /// An MPEG audio frame header (layer I–III, any version) without a tag before it:
    /// 11 sync bits, and no reserved version, layer, bitrate or sample rate.
    private static func isMPEGFrameHeader(_ p: [UInt8]) -> Bool {
        guard p.count >= 3, p[0] == 0xFF, p[1] & 0xE0 == 0xE0 else { return false }
        let version = (p[1] >> 3) & 0x3, layer = (p[1] >> 1) & 0x3
        let bitrate = p[2] >> 4, sampleRate = (p[2] >> 2) & 0x3
        // Layer 0 is reserved, and is also how AAC's ADTS frames (not MPEG audio) look.
        return version != 1 && layer != 0 && bitrate != 0xF && sampleRate != 3
    }

    /// ISO base media files that are still images (HEIF, AVIF), not audio.
    private static let imageBrands: Set<[UInt8]> = Set(
        ["heic", "heix", "heim", "heis", "hevc", "hevx", "hevm", "hevs", "mif1", "msf1", "avif", "avis"].map { Array($0.utf8) }
    )
}

private extension Array where Element == UInt8 {
    func starts(with text: String) -> Bool { starts(with: text.utf8) }
}
