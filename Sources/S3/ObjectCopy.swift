import Diagnostics
import Foundation
import Storage
import Digests

/// Server-side copies within the bucket (a completed resumable upload becoming a
/// recording's audio): the bytes never pass through this process. CopyObject up to
/// 5 GiB; above, a multipart upload of UploadPartCopy ranges, as S3 requires.
extension S3Store {
    /// S3's limit for a single CopyObject.
    static let maxSingleCopy: Int64 = 5 * 1024 * 1024 * 1024

    public func copy(_ source: StoredCopySource, to key: String, contentType: String, condition: WriteCondition) throws -> ObjectInfo {
        guard source.store == .s3 else { throw StorageError.unavailable("an S3 store copies only its own objects") }
        try S3Keys.check(source.key)
        try S3Keys.check(key)
        try precheck(key: key, condition: condition)
        if source.size > options.singleCopyLimit {
            return try copyInParts(source, to: key, contentType: contentType, condition: condition)
        }
        var r = request("CopyObject", "PUT", key: key)
        r.headers = [("x-amz-copy-source", copySource(source.key)), ("x-amz-metadata-directive", "REPLACE"),
                     ("Content-Type", contentType), ("x-amz-meta-sha256", source.sha256)] + conditionHeaders(condition)
        r.timeout = 900  // S3 may take long to copy a large object, sending spaces meanwhile
        let (response, attempts) = try client.send(r, session: session, maxBodyBytes: 1024 * 1024)
        // A 200 may still carry an error: S3 commits to the status before the copy is done.
        let answer = XMLReader.parse(response.body)
        if response.status == 200, let answer, answer.name != "Error", let etag = answer.value("ETag") {
            return ObjectInfo(key: key, size: source.size, lastModified: Date(), etag: Self.unquote(etag))
        }
        let refusals: Set<Int> = condition == .createOnly ? [409, 412] : [404, 409, 412]
        if condition != .none, refusals.contains(response.status) {
            if attempts > 1, let landed = try landed(key: key, sha256: source.sha256) { return landed }
            throw conditionFailure(condition, key: key)
        }
        throw client.unexpected(r, response)
    }

    /// `/bucket/key`, the key percent-encoded (slashes kept).
    func copySource(_ key: String) -> String { "/" + bucket + "/" + URIEncoding.encodePath(key) }

    /// Above 5 GiB: CreateMultipartUpload, UploadPartCopy of consecutive ranges,
    /// CompleteMultipartUpload; aborted on any failure so no parts are left.
    func copyInParts(_ source: StoredCopySource, to key: String, contentType: String, condition: WriteCondition) throws -> ObjectInfo {
        let staged = StagedFile(path: "", size: source.size, sha256: source.sha256)
        let upload = MultipartUpload(store: self, key: key, file: staged, contentType: contentType, condition: condition)
        let uploadID = try upload.initiate()
        do {
            // Ranges of at most 5 GiB and at least 5 MiB (the last excepted), at most 10,000.
            let size = min(max(options.copyPartSize, (source.size + 9_999) / 10_000, 5 * 1024 * 1024), Self.maxSingleCopy)
            var etags: [String] = []
            var first: Int64 = 0
            while first < source.size {
                let last = min(first + size, source.size) - 1
                var r = request("UploadPartCopy", "PUT", key: key)
                r.query = [("partNumber", String(etags.count + 1)), ("uploadId", uploadID)]
                r.headers = [("x-amz-copy-source", copySource(source.key)), ("x-amz-copy-source-range", "bytes=\(first)-\(last)")]
                r.timeout = 900
                let (response, _) = try client.send(r, session: session, maxBodyBytes: 1024 * 1024)
                let answer = XMLReader.parse(response.body)
                guard response.status == 200, let answer, answer.name != "Error", let etag = answer.value("ETag") else {
                    throw client.unexpected(r, response)
                }
                etags.append(etag)
                first = last + 1
            }
            return try upload.complete(uploadID: uploadID, etags: etags)
        } catch {
            upload.abort(uploadID: uploadID)
            throw error
        }
    }
}
