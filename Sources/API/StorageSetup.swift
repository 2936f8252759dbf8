import RecstoreConfiguration
import Storage

extension StorageService {
    /// API.md's "Two stores, one view" for a configuration. LOCAL: writes to the
    /// local store, reads the bucket too when one is configured (`s3`). S3: writes
    /// to the bucket, reads the local directory too, and falls back to it when
    /// `S3_FALLBACK_TO_LOCAL` is on.
    public convenience init(configuration: Configuration, local: LocalStore, s3: (any ObjectStore)?) {
        let scope = local.root + "|" + (configuration.storage.bucket ?? "")
        let orphanAge = Double(configuration.retention.orphanAgeSeconds)
        switch configuration.storage.mode {
        case .local:
            self.init(active: local, others: s3.map { [$0] } ?? [], lockScope: scope, orphanAge: orphanAge)
        case .s3:
            guard let s3 else { preconditionFailure("STORAGE=S3 needs an S3 store") }
            self.init(active: s3, others: [local], fallback: configuration.storage.fallbackToLocal ? local : nil,
                      lockScope: scope, orphanAge: orphanAge)
        }
    }
}
