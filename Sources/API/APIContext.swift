import Auth
import Foundation
import Storage

/// What the routes need, built once at start-up by the executable.
public struct APIContext: Sendable {
    public var options: APIOptions
    public var authenticator: any Authenticator
    public var storage: StorageService
    /// Where uploads are staged: on the local store's filesystem
    /// (`LOCAL_STORAGE_DIR/.tmp`), so a local save is a rename.
    public var temporaryDirectory: String
    /// Where resumable uploads live: the active store's (LOCAL: files beside the
    /// recordings; S3: a multipart upload per upload).
    public var uploads: any UploadStore
    /// The current time; tests move it.
    public var now: @Sendable () -> Date
    /// Serialized recordings per metadata version, for listings (per process).
    let listings = ListingCache()

    public init(options: APIOptions, authenticator: any Authenticator, storage: StorageService,
                temporaryDirectory: String, uploads: (any UploadStore)? = nil,
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.options = options
        self.authenticator = authenticator
        self.storage = storage
        self.temporaryDirectory = temporaryDirectory
        self.uploads = uploads ?? LocalUploadStore(root: (temporaryDirectory as NSString).deletingLastPathComponent)
        self.now = now
    }
}
