#if canImport(Glibc)
import Glibc
#endif
import Diagnostics
import Digests
import POSIX
import HTTP

/// Streams a file part to a new temporary file, hashing it and keeping its first bytes.
/// Until `finish()` hands the file over, the sink owns it and removes it on `discard()`
/// or when released.
final class FilePartSink {
    private let name: String
    private let maxBytes: Int64
    private let filename: String?
    private let contentType: String?
    private let path: String
    private var fd: Int32
    private var size: Int64 = 0
    private var prefix: [UInt8] = []
    private let hasher = SHA256Hasher()

    init(name: String, directory: String, maxBytes: Int64, filename: String?, contentType: String?) throws {
        self.name = name
        self.maxBytes = maxBytes
        self.filename = filename
        self.contentType = contentType
        (fd, path) = try TemporaryFiles.create(in: directory)
    }

    deinit { discard() }

    func append(_ chunk: UnsafeRawBufferPointer) throws {
        guard Int64(chunk.count) <= maxBytes - size else {
            throw HTTPError(.payloadTooLarge, "part '\(name)' is larger than \(maxBytes) bytes")
        }
        if prefix.count < UploadedFile.prefixLength {
            prefix.append(contentsOf: chunk.prefix(UploadedFile.prefixLength - prefix.count))
        }
        hasher.update(chunk)
        do {
            try FileIO.writeAll(fd, chunk, path: path)
        } catch {
            throw ioFailure("write", (error as? SystemError)?.code ?? EIO)
        }
        size += Int64(chunk.count)
    }

    /// Closes the file and hands it over.
    func finish() throws -> UploadedFile {
        let fd = self.fd
        self.fd = -1
        guard close(fd) == 0 else {
            let error = ioFailure("close", errno)
            unlink(path)
            throw error
        }
        return UploadedFile(path: path, size: size, sha256: hasher.finalize(), prefix: prefix,
                            filename: filename, contentType: contentType)
    }

    /// Closes and removes the file, unless it was handed over.
    func discard() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
        unlink(path)
    }

    private func ioFailure(_ operation: String, _ code: Int32) -> HTTPError {
        Log.error("cannot write a temporary upload file", ["path": path, "operation": operation, "error": SystemError.text(code)])
        return HTTPError.unavailable("temporary storage for uploads is unavailable")
    }
}
