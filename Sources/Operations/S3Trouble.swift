import Foundation
import S3
import Storage

/// What `recstore check` and `recstore sync` say when the bucket does not work.
public enum S3Trouble {
    /// Where probe objects go: no recording or settings key can collide with it.
    public static let probePrefix = "recstore-check/"

    /// A listing of an empty prefix, not HEAD: a refusal then comes with S3's error
    /// code (a HEAD answer has no body), which `explain` turns into words.
    public static func checkAnswers(_ bucket: S3Store) throws {
        _ = try bucket.list(prefix: probePrefix)
    }

    /// S3's answer in plain words first, its own wording after. Decided on the
    /// failure's fields (S3's error code, the kind of failure), never on message text.
    public static func explain(_ error: Error, bucket: String, region: String, endpoint: String?, keyID: String) -> String {
        guard case StorageError.unavailable(let failure) = error else { return "\(error)" }
        let words: String?
        switch failure.code {
        case "SignatureDoesNotMatch":
            words = "the secret access key is wrong: S3 does not accept signatures made with it for access key ID \(keyID)"
        case "InvalidAccessKeyId": words = "the access key ID \(keyID) is not known to S3"
        case "ExpiredToken", "TokenRefreshRequired": words = "the session token (AWS_SESSION_TOKEN) has expired"
        case "InvalidToken": words = "the session token (AWS_SESSION_TOKEN) is not valid"
        case "NoSuchBucket": words = "the bucket \(bucket) does not exist"
        case "AllAccessDisabled": words = "all access to the bucket \(bucket) is disabled"
        case "AccessDenied": words = "the credentials are valid but not allowed to do this in the bucket \(bucket)"
        case "PermanentRedirect", "AuthorizationHeaderMalformed": words = "the bucket \(bucket) is not in region \(region) (AWS_REGION)"
        case "RequestTimeTooSkewed": words = "this machine's clock is too far from S3's"
        case "SlowDown": words = "S3 asks us to slow down (SlowDown): try again in a while"
        default:
            switch failure.kind {
            case .unreachable, .deadline: words = "cannot reach S3 at \(endpoint ?? "AWS (region \(region))")"
            case .breakerOpen: words = "S3 was failing, so it was not asked"
            case .serverError: words = "S3 at \(endpoint ?? "AWS (region \(region))") keeps answering with server errors"
            case .refused, .ambiguousCommit, .other: words = nil
            }
        }
        guard let words else { return failure.reason }
        return "\(words) (S3: \(failure.reason))"
    }
}
