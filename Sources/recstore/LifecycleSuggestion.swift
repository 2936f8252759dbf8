import RecstoreConfiguration
import Foundation
import Operations

/// `recstore check --suggest-lifecycle [--days N]`: the S3 lifecycle configuration
/// that enforces retention inside the bucket, as JSON on stdout for
/// `aws s3api put-bucket-lifecycle-configuration --lifecycle-configuration file://...`
/// (the explanation goes to stderr, so stdout can be redirected to that file):
///   - recordings (`user_recordings/`) expire N days after they were written;
///   - multipart uploads left incomplete (a responder killed mid-upload) are
///     aborted after one day, so their parts stop costing storage.
/// N: --days, else PRUNE_OLDER_THAN_DAYS, else RETENTION_DAYS (the listing window).
enum LifecycleSuggestion {
    static func run(days requested: Int?) -> Int32 {
        let environment = DotEnv.environment()
        let days: Int
        let source: String
        do {
            if let requested {
                days = try LifecycleDocument.wholeDays(String(requested), "--days")
                source = "--days"
            } else if let text = environment["PRUNE_OLDER_THAN_DAYS"], !text.isEmpty {
                days = try LifecycleDocument.wholeDays(text, "PRUNE_OLDER_THAN_DAYS")
                source = "PRUNE_OLDER_THAN_DAYS"
            } else {
                days = try Configuration.load(environment, requireIdentity: false).retention.days
                source = "RETENTION_DAYS (the listing window; set PRUNE_OLDER_THAN_DAYS or --days to choose)"
            }
        } catch {
            FileHandle.standardError.write(Data("recstore check: \(error)\n".utf8))
            return 2
        }
        FileHandle.standardOutput.write(Data((LifecycleDocument.json(days: days) + "\n").utf8))
        FileHandle.standardError.write(Data("""
            recstore check: S3 lifecycle rules: recordings expire \(days) days after they were written (from \(source)); \
            incomplete multipart uploads are aborted after 1 day. S3 counts days per object from its upload, \
            so a recording's audio may go up to a day before its metadata. Apply with:
              aws s3api put-bucket-lifecycle-configuration --bucket BUCKET --lifecycle-configuration file://lifecycle.json

            """.utf8))
        return 0
    }
}
