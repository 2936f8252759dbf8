import API
import Foundation

/// The S3 lifecycle configuration that enforces retention inside the bucket
/// (`recstore check --suggest-lifecycle`): recordings expire N days after they were
/// written; multipart uploads left incomplete are aborted after one day.
public enum LifecycleDocument {
    public static func wholeDays(_ text: String, _ name: String) throws -> Int {
        guard let n = Int(text.trimmingCharacters(in: .whitespaces)), (1...36_500).contains(n) else {
            throw InvalidDays(text: "\(name) must be a whole number of days in 1...36500, got \"\(text)\"")
        }
        return n
    }

    /// The rules as JSON, for `aws s3api put-bucket-lifecycle-configuration`.
    public static func json(days: Int) -> String {
        """
        {
          "Rules": [
            {
              "ID": "recstore-expire-recordings",
              "Filter": {"Prefix": "\(Layout.recordingsArea)"},
              "Status": "Enabled",
              "Expiration": {"Days": \(days)}
            },
            {
              "ID": "recstore-abort-incomplete-multipart-uploads",
              "Filter": {"Prefix": ""},
              "Status": "Enabled",
              "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}
            }
          ]
        }
        """
    }
}

/// A day count outside 1...36500 (from --days or PRUNE_OLDER_THAN_DAYS).
private struct InvalidDays: Error, CustomStringConvertible {
    let text: String
    var description: String { text }
}
