import Foundation
import S3
import Storage

/// What `recstore check` and `recstore sync` say when the bucket does not work.
enum S3Trouble {
    /// Where probe objects go: no recording or settings key can collide with it.
    static let probePrefix = "recstore-check/"

    /// A listing of an empty prefix, not HEAD: a refusal then comes with S3's error
    /// code (a HEAD answer has no body), which `explain` turns into words.
    static func checkAnswers(_ bucket: S3Store) throws {
        _ = try bucket.list(prefix: probePrefix)
    }

    /// S3's answer in plain words first, its own wording after.
    static func explain(_ error: Error, bucket: String, region: String, endpoint: String?, keyID: String) -> String {
        let raw: String
        if case StorageError.unavailable(let reason) = error { raw = reason } else { raw = "\(error)" }
        let hints: [(code: String, words: String)] = [
            ("SignatureDoesNotMatch", "the secret access key is wrong: S3 does not accept signatures made with it for access key ID \(keyID)"),
            ("InvalidAccessKeyId", "the access key ID \(keyID) is not known to S3"),
            ("ExpiredToken", "the session token (AWS_SESSION_TOKEN) has expired"),
            ("TokenRefreshRequired", "the session token (AWS_SESSION_TOKEN) has expired"),
            ("InvalidToken", "the session token (AWS_SESSION_TOKEN) is not valid"),
            ("NoSuchBucket", "the bucket \(bucket) does not exist"),
            ("AllAccessDisabled", "all access to the bucket \(bucket) is disabled"),
            ("AccessDenied", "the credentials are valid but not allowed to do this in the bucket \(bucket)"),
            ("PermanentRedirect", "the bucket \(bucket) is not in region \(region) (AWS_REGION)"),
            ("AuthorizationHeaderMalformed", "the bucket \(bucket) is not in region \(region) (AWS_REGION)"),
            ("RequestTimeTooSkewed", "this machine's clock is too far from S3's"),
        ]
        if let hint = hints.first(where: { raw.contains(" " + $0.code) }) {
            return "\(hint.words) (S3: \(raw))"
        }
        if raw.contains("failed after") && !raw.contains("HTTP ") {
            return "cannot reach S3 at \(endpoint ?? "AWS (region \(region))") (\(raw))"
        }
        return raw
    }
}
