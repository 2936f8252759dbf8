#if canImport(Glibc)
import Glibc
#endif

/// The playing time of a WAV file from its header: the data chunk's size over the
/// fmt chunk's byte rate. Only the chunk headers are read, never the samples.
public enum WAVDuration {
    /// Seconds, or nil when the file is not a RIFF/WAVE file with both chunks and a
    /// byte rate. A data size of 0 or 0xFFFFFFFF (a recorder that streamed the file and
    /// never came back to fill it in) or one past the end of the file means "to the
    /// end of the file".
    public static func seconds(ofFileAt path: String) -> Double? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return nil }
        return seconds(fileSize: Int64(info.st_size)) { offset, count in
            var out = [UInt8](repeating: 0, count: count)
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
            return n == count ? out : nil
        }
    }

    /// The same from a file's first bytes (a resumable upload's kept head) and its
    /// whole size: chunks past the head are not seen.
    public static func seconds(head: [UInt8], fileSize: Int64) -> Double? {
        seconds(fileSize: fileSize) { offset, count in
            guard offset >= 0, offset + Int64(count) <= Int64(head.count) else { return nil }
            return Array(head[Int(offset)..<Int(offset) + count])
        }
    }

    static func seconds(fileSize: Int64, _ bytes: (Int64, Int) -> [UInt8]?) -> Double? {
        guard let riff = bytes(0, 12), riff[0..<4].elementsEqual("RIFF".utf8),
              riff[8..<12].elementsEqual("WAVE".utf8) else { return nil }
        var byteRate: UInt64?
        var dataBytes: Int64?
        var offset: Int64 = 12
        // Real files have a handful of chunks; the bound keeps a crafted file of
        // millions of empty chunks from costing millions of reads.
        var chunks = 0
        while byteRate == nil || dataBytes == nil, chunks < 1000, let header = bytes(offset, 8) {
            chunks += 1
            let id = header[0..<4]
            let size = littleEndian32(header, at: 4)
            let body = offset + 8
            if id.elementsEqual("fmt ".utf8) {
                guard size >= 16, let fmt = bytes(body, 16) else { return nil }
                let sampleRate = littleEndian32(fmt, at: 4)
                let blockAlign = UInt32(fmt[12]) | UInt32(fmt[13]) << 8
                let rate = littleEndian32(fmt, at: 8)
                byteRate = rate != 0 ? UInt64(rate) : UInt64(sampleRate) * UInt64(blockAlign)
            } else if id.elementsEqual("data".utf8) {
                let toEnd = fileSize - body
                if size == 0 || size == 0xFFFF_FFFF || Int64(size) > toEnd {
                    dataBytes = toEnd
                    break // nothing after it can be found
                }
                dataBytes = Int64(size)
            }
            offset = body + Int64(size) + Int64(size & 1) // chunks are padded to even sizes
        }
        guard let byteRate, byteRate > 0, let dataBytes else { return nil }
        return Double(dataBytes) / Double(byteRate)
    }

    private static func littleEndian32(_ b: [UInt8], at i: Int) -> UInt32 {
        UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
    }
}
