#if canImport(Glibc)
import Glibc
#endif

/// The parts of a multipart form that were kept (the first of each name, not the
/// ignored ones), in order. Owns the temporary files of its file parts: `removeTemporaryFiles()` (also run when the form is released) deletes every
/// one not taken with `take(_:)`.
public final class MultipartForm {
    public private(set) var parts: [(name: String, value: FormValue)] = []
    private var ownedPaths: [String] = []

    init() {}

    deinit { removeTemporaryFiles() }

    /// The first part of that name.
    public subscript(name: String) -> FormValue? {
        parts.first { $0.name == name }?.value
    }

    /// The first part of that name if it is a file, which from now on belongs to the
    /// caller (to rename or delete): the form no longer removes it.
    public func take(_ name: String) -> UploadedFile? {
        guard case .file(let file)? = self[name] else { return nil }
        ownedPaths.removeAll { $0 == file.path }
        return file
    }

    public func removeTemporaryFiles() {
        for path in ownedPaths { unlink(path) }
        ownedPaths.removeAll()
    }

    func append(name: String, value: FormValue) {
        if case .file(let file) = value { ownedPaths.append(file.path) }
        parts.append((name, value))
    }
}
