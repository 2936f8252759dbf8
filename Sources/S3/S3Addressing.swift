/// Where a bucket's objects live on the wire: AWS with virtual-hosted addressing
/// (`https://bucket.s3.region.amazonaws.com/key`), or an S3-compatible endpoint with
/// path-style addressing (`http://127.0.0.1:5000/bucket/key`).
struct S3Addressing: Sendable {
    /// `https://host[:port]`, no trailing slash.
    let origin: String
    /// The `Host` header, as signed.
    let host: String
    /// Prepended to every object path: `""` (virtual-hosted) or `/bucket`.
    let bucketPath: String

    init(bucket: String, region: String, endpoint: String?) {
        if let endpoint {
            var base = endpoint
            while base.hasSuffix("/") { base.removeLast() }
            // An endpoint may carry a path of its own (behind a proxy, say).
            let afterScheme = base.range(of: "://").map { base[$0.upperBound...] } ?? Substring(base)
            let authority = afterScheme.prefix { $0 != "/" }
            let path = afterScheme.dropFirst(authority.count)
            origin = String(base.dropLast(path.count))
            host = String(authority)
            bucketPath = String(path) + "/" + URIEncoding.encode(bucket)
        } else if bucket.contains(".") {
            // Dotted bucket names break the wildcard TLS certificate of virtual hosts.
            host = "s3.\(region).amazonaws.com"
            origin = "https://" + host
            bucketPath = "/" + bucket
        } else {
            host = "\(bucket).s3.\(region).amazonaws.com"
            origin = "https://" + host
            bucketPath = ""
        }
    }

    /// The encoded path of an object, or of the bucket itself when `key` is nil.
    func path(key: String?) -> String {
        guard let key else { return bucketPath.isEmpty ? "/" : bucketPath }
        return bucketPath + "/" + URIEncoding.encodePath(key)
    }
}
