import HTTP

/// Reads a `multipart/form-data` request body into a `MultipartForm`, streaming: file
/// parts go to temporary files as they arrive, so memory stays flat whatever the size.
public struct MultipartReader {
    /// Bytes asked of the body per read.
    public static let chunkSize = 64 * 1024

    /// - Parameters:
    ///   - contentType: the request's Content-Type. Not `multipart/form-data` → 415;
    ///     no or a bad boundary → 400.
    ///   - tempDirectory: where file parts go; on the store's filesystem, a local save is a rename.
    ///   - policy: how to treat a part, by its name. Only the first part of a name is
    ///     kept; later ones are read and discarded, so memory and disk stay within the
    ///     policy's limits however often a client repeats a field.
    /// - Throws: `HTTPError` 400 (framing), 413 (a limit crossed), 503 (temporary storage
    ///   failed), or the body's own error when the client aborted. On every failure the
    ///   temporary files are removed and, unless the body itself failed, the rest of the
    ///   body is read and discarded first.
    public static func read(_ body: BodyStream, contentType: String?, tempDirectory: String,
                            policy: (String) -> PartPolicy,
                            limits: MultipartLimits = MultipartLimits()) throws -> MultipartForm {
        let form = MultipartForm()
        var sink: Sink?
        var seen = Set<String>()
        do {
            var parser = MultipartParser(boundary: try MultipartContentType.boundary(of: contentType), limits: limits)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
            defer { buffer.deallocate() }
            while true {
                let n: Int
                do { n = try body.read(into: buffer) } catch { throw BodyFailure(error: error) }
                if n == 0 { break }
                try parser.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) { event in
                    switch event {
                    case .partBegin(let part):
                        let first = seen.insert(part.name).inserted
                        sink = try Sink(part, policy: first ? policy(part.name) : .ignore, directory: tempDirectory)
                    case .partData(let bytes):
                        try sink?.append(bytes)
                    case .partEnd:
                        if let finished = sink, let value = try finished.finish() {
                            form.append(name: finished.name, value: value)
                        }
                        sink = nil
                    }
                }
            }
            try parser.finish()
            return form
        } catch let failure as BodyFailure {
            sink?.discard()
            form.removeTemporaryFiles()
            throw failure.error
        } catch {
            sink?.discard()
            form.removeTemporaryFiles()
            // The rest of the body is not read: the answer goes out at once and the
            // transport discards a bounded remainder.
            throw error
        }
    }

    /// An error of the body stream itself (the client went away): nothing left to drain.
    private struct BodyFailure: Error { let error: Error }

    /// Where the current part's bytes go.
    private struct Sink {
        enum Kind { case text(TextPartSink), file(FilePartSink), ignore }
        let name: String
        let kind: Kind

        init(_ part: PartHeaders, policy: PartPolicy, directory: String) throws {
            name = part.name
            switch policy {
            case .text(let maxBytes):
                kind = .text(TextPartSink(name: part.name, maxBytes: maxBytes))
            case .file(let maxBytes):
                kind = .file(try FilePartSink(name: part.name, directory: directory, maxBytes: maxBytes,
                                              filename: part.filename, contentType: part.contentType))
            case .textOrFile(let maxBytes) where part.filename != nil:
                kind = .file(try FilePartSink(name: part.name, directory: directory, maxBytes: Int64(maxBytes),
                                              filename: part.filename, contentType: part.contentType))
            case .textOrFile(let maxBytes):
                kind = .text(TextPartSink(name: part.name, maxBytes: maxBytes))
            case .ignore:
                kind = .ignore
            }
        }

        func append(_ bytes: UnsafeRawBufferPointer) throws {
            switch kind {
            case .text(let s): try s.append(bytes)
            case .file(let s): try s.append(bytes)
            case .ignore: break
            }
        }

        /// The part's value; nil for an ignored part.
        func finish() throws -> FormValue? {
            switch kind {
            case .text(let s): return .text(s.bytes)
            case .file(let s): return .file(try s.finish())
            case .ignore: return nil
            }
        }

        func discard() {
            if case .file(let s) = kind { s.discard() }
        }
    }
}
