import COpenSSL

/// A SHA-256 whose state can be saved between requests: a resumable upload is
/// hashed PATCH by PATCH, possibly on different hosts, and its `audio_sha256` is
/// ready when the last byte lands, with nothing read twice.
///
/// The state is OpenSSL's `SHA256_CTX` (eight chaining words, the bit count and
/// the pending partial block) written out field by field, so it does not depend on
/// the struct's layout; the partial block is the bytes OpenSSL buffered, read as
/// words in host order (every host of one deployment shares it).
public struct SHA256State: Sendable, Equatable {
    private var context = SHA256_CTX()

    public init() {
        SHA256_Init(&context)
    }

    public static func == (a: SHA256State, b: SHA256State) -> Bool { a.serialized == b.serialized }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        SHA256_Update(&context, base, bytes.count)
    }

    /// Lowercase hex of the digest of everything so far (the state is not changed).
    public func hexDigest() -> String {
        var copy = context
        var digest = [UInt8](repeating: 0, count: 32)
        SHA256_Final(&digest, &copy)
        return Digest.hex(digest)
    }

    /// 8 words h, Nl, Nh, 16 data words, num, md_len: 28 big-endian UInt32s, as hex.
    public var serialized: String {
        var words: [UInt32] = []
        withUnsafeBytes(of: context.h) { words += $0.bindMemory(to: UInt32.self) }
        words.append(context.Nl)
        words.append(context.Nh)
        withUnsafeBytes(of: context.data) { words += $0.bindMemory(to: UInt32.self) }
        words.append(context.num)
        words.append(context.md_len)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(words.count * 4)
        for w in words { bytes += [UInt8(w >> 24), UInt8(w >> 16 & 0xFF), UInt8(w >> 8 & 0xFF), UInt8(w & 0xFF)] }
        return Digest.hex(bytes)
    }

    /// Nil when `hex` is not a state `serialized` could have written.
    public init?(serialized hex: String) {
        let digits = Array(hex.utf8)
        guard digits.count == 28 * 8 else { return nil }
        func nibble(_ c: UInt8) -> UInt32? {
            switch c {
            case 0x30...0x39: UInt32(c - 0x30)
            case 0x61...0x66: UInt32(c - 0x61 + 10)
            default: nil
            }
        }
        var words: [UInt32] = []
        for i in 0..<28 {
            var w: UInt32 = 0
            for j in 0..<8 {
                guard let n = nibble(digits[i * 8 + j]) else { return nil }
                w = w << 4 | n
            }
            words.append(w)
        }
        // Nl counts bits mod 2^32 in multiples of 8; num < 64 bytes pending; md_len is 32.
        guard words[26] < 64, words[27] == 32, (words[8] & 7) == 0 else { return nil }
        var c = SHA256_CTX()
        withUnsafeMutableBytes(of: &c.h) { raw in
            let h = raw.bindMemory(to: UInt32.self)
            for i in 0..<8 { h[i] = words[i] }
        }
        c.Nl = words[8]
        c.Nh = words[9]
        withUnsafeMutableBytes(of: &c.data) { raw in
            let d = raw.bindMemory(to: UInt32.self)
            for i in 0..<16 { d[i] = words[10 + i] }
        }
        c.num = words[26]
        c.md_len = words[27]
        context = c
    }
}
