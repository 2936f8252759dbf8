import Synchronization
import Hex

/// Which canonical URI and query a request is signed over.
///
/// `.aws` is the only form AWS accepts: the URI and query exactly as sent, each key
/// segment and query component URI-encoded once. It is always used for AWS.
///
/// `.decodedURL` exists for stock `moto_server` up to 5.2.3 with signature checks on,
/// which people run as an S3-compatible endpoint (5.2.4 and later verify the request
/// as sent, so the AWS form passes there at once). Those versions do not verify the
/// request as sent: they rebuild the canonical request from werkzeug's `request.url`
/// (the path percent-decoded, then re-quoted and partly decoded again by `uri_to_iri`;
/// the query partly decoded) with botocore's `S3SigV4Auth`, which does not encode the
/// path again for S3 and takes the query pairs as they stand. So a correctly signed
/// request whose key holds `|`, `@`, `+`, most other punctuation or non-ASCII, or whose
/// query holds any of those or `/` (`prefix=user_recordings/auth0|…/`), is refused
/// there with SignatureDoesNotMatch.
/// Only a custom endpoint is ever sent this form, first only after the AWS form was
/// refused (see `S3Client.send`, `SigningFormPreference`); a wrong secret fails in both.
enum SigningForm: Sendable {
    case aws
    case decodedURL

    /// The canonical URI stock moto computes for an `.aws`-encoded path: every escape
    /// decoded but those of controls, space, DEL, `?` and `#`. Nil when the path holds
    /// an encoded `%`: werkzeug would decode a `%XX` that follows it a second time, which
    /// no key of our layout needs (ids never hold `%`).
    static func decodedPath(_ encodedPath: String) -> String? {
        guard !encodedPath.contains("%25") else { return nil }
        return partiallyDecoded(encodedPath, keeping: { $0 <= 0x20 || $0 == 0x7F || $0 == 0x3F || $0 == 0x23 })
    }

    /// The canonical query stock moto computes: each name and value `.aws`-encoded, then
    /// every escape decoded but those of controls, space, DEL, `%`, `&`, `=`, `+` and `#`
    /// (werkzeug's `uri_to_iri`); pairs sorted in that decoded form.
    static func decodedQuery(_ query: [(name: String, value: String)]) -> String {
        let keep: (UInt8) -> Bool = { $0 <= 0x20 || $0 == 0x7F || $0 == 0x25 || $0 == 0x26 || $0 == 0x3D || $0 == 0x2B || $0 == 0x23 }
        return query.map { (partiallyDecoded(URIEncoding.encode($0.name), keeping: keep),
                            partiallyDecoded(URIEncoding.encode($0.value), keeping: keep)) }
            .sorted { $0.0 != $1.0 ? Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) : Array($0.1.utf8).lexicographicallyPrecedes(Array($1.1.utf8)) }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    /// `encoded` (only unreserved characters and `%XX`, as `URIEncoding` makes it) with
    /// each escape replaced by its byte unless `keeping` says it stays encoded. The kept
    /// bytes are ASCII, so what is decoded stays valid UTF-8.
    static func partiallyDecoded(_ encoded: String, keeping: (UInt8) -> Bool) -> String {
        var out = [UInt8]()
        out.reserveCapacity(encoded.utf8.count)
        var bytes = Array(encoded.utf8)[...]
        while let b = bytes.popFirst() {
            guard b == 0x25, bytes.count >= 2, let h = Hex.value(bytes[bytes.startIndex]),
                  let l = Hex.value(bytes[bytes.startIndex + 1]) else { out.append(b); continue }
            let decoded = h << 4 | l
            if keeping(decoded) {
                out.append(b); out.append(bytes.removeFirst()); out.append(bytes.removeFirst())
            } else {
                bytes.removeFirst(2)
                out.append(decoded)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Which form a custom endpoint last accepted, shared by every copy of one `S3Client`
/// (all threads of a worker): once stock moto has accepted `.decodedURL`, requests are
/// signed that way first, saving a refused round trip each.
final class SigningFormPreference: Sendable {
    private let decodedURLFirst = Atomic<Bool>(false)

    var first: SigningForm { decodedURLFirst.load(ordering: .relaxed) ? .decodedURL : .aws }

    func accepted(_ form: SigningForm) { decodedURLFirst.store(form == .decodedURL, ordering: .relaxed) }
}
