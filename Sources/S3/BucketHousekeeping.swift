import Diagnostics
import Foundation
import Storage

/// Incomplete multipart uploads (a worker killed mid-upload, an abort that failed)
/// cost storage until aborted. The sweep aborts those of recordings older than
/// `recordingUploadAge`, and any other older than `otherUploadAge`: other prefixes
/// (resumable uploads) keep theirs open on purpose for as long as they may be
/// resumed (renewed by each PATCH), so that bound is far beyond their expiry.
public struct StaleUploadPolicy: Sendable {
    public var recordingPrefix = "user_recordings/"
    /// A save's own multipart upload never lives this long (its budget is far shorter).
    public var recordingUploadAge: Double = 3600
    public var otherUploadAge: Double = 7 * 86_400
    public init() {}

    /// Stale when both S3's `Initiated` and how long this process has seen the
    /// upload say so: a server's clock can be off (moto reports a fixed date in
    /// 2010), and a live upload must never be aborted for it.
    func isStale(key: String, initiated: Date, seenFor: Double, now: Date) -> Bool {
        let age = min(now.timeIntervalSince(initiated), seenFor)
        return key.hasPrefix(recordingPrefix) ? age > recordingUploadAge : age > otherUploadAge
    }
}

extension S3Store: LeftoverCleaning {
    /// Aborts stale incomplete multipart uploads (see `StaleUploadPolicy`); at most
    /// ten pages of 1,000 per run. `age` (the orphan age) is not used: a multipart
    /// upload's own bounds are longer. A process that sweeps once (`recstore sync`)
    /// has seen no upload for long, so only the periodic sweep aborts any.
    public func removeStaleLeftovers(olderThan age: Double, now: Date) throws -> Int {
        var policy = StaleUploadPolicy()
        policy.recordingUploadAge = options.staleRecordingUploadSeconds
        policy.otherUploadAge = options.staleOtherUploadSeconds
        var aborted = 0
        var keyMarker: String?
        var uploadMarker: String?
        var listed = Set<String>()
        var complete = false
        let seenAt = Deadline.now()
        for _ in 0..<10 {
            let page = try listMultipartUploads(keyMarker: keyMarker, uploadIDMarker: uploadMarker)
            let seenFor: [String: Double] = uploadSightings.withLock { sightings in
                var ages: [String: Double] = [:]
                for upload in page.uploads {
                    let first = sightings[upload.uploadID] ?? seenAt
                    if sightings.count < 100_000 { sightings[upload.uploadID] = first }
                    ages[upload.uploadID] = seenAt - first
                }
                return ages
            }
            listed.formUnion(page.uploads.map(\.uploadID))
            for upload in page.uploads where policy.isStale(key: upload.key, initiated: upload.initiated,
                                                            seenFor: seenFor[upload.uploadID] ?? 0, now: now) {
                if try abortMultipartUpload(key: upload.key, uploadID: upload.uploadID) {
                    aborted += 1
                    Log.warning("aborted a stale S3 multipart upload", ["key": upload.key, "upload_id": upload.uploadID,
                                                                       "initiated": Timestamp.iso8601(upload.initiated)])
                }
            }
            guard let next = page.next else { complete = true; break }
            (keyMarker, uploadMarker) = next
        }
        // Forget uploads that are gone (completed, aborted), once the whole list was seen.
        if complete { uploadSightings.withLock { $0 = $0.filter { listed.contains($0.key) } } }
        return aborted
    }

    struct PendingUpload {
        let key: String
        let uploadID: String
        let initiated: Date
    }

    func listMultipartUploads(keyMarker: String?, uploadIDMarker: String?)
        throws -> (uploads: [PendingUpload], next: (String, String?)?) {
        var r = request("ListMultipartUploads", "GET", key: nil)
        r.query = [("uploads", ""), ("max-uploads", "1000")]
        if let keyMarker { r.query.append(("key-marker", keyMarker)) }
        if let uploadIDMarker { r.query.append(("upload-id-marker", uploadIDMarker)) }
        let (response, _) = try client.send(r, session: session)
        guard response.status == 200 else { throw client.unexpected(r, response) }
        guard let xml = XMLReader.parse(response.body), xml.name == "ListMultipartUploadsResult" else {
            throw StorageError.unavailable(StoreFailure(.other, "S3 ListMultipartUploads: unreadable answer", operation: "ListMultipartUploads"))
        }
        var uploads: [PendingUpload] = []
        for u in xml.all("Upload") {
            guard let key = u.value("Key"), let id = u.value("UploadId"),
                  let initiated = u.value("Initiated").flatMap(Timestamp.parse) else { continue }
            uploads.append(PendingUpload(key: key, uploadID: id, initiated: initiated))
        }
        guard xml.value("IsTruncated") == "true", let nextKey = xml.value("NextKeyMarker"), !nextKey.isEmpty else {
            return (uploads, nil)
        }
        return (uploads, (nextKey, xml.value("NextUploadIdMarker")))
    }

    /// True when aborted (or already gone).
    func abortMultipartUpload(key: String, uploadID: String) throws -> Bool {
        var r = request("AbortMultipartUpload", "DELETE", key: key)
        r.query = [("uploadId", uploadID)]
        let (response, _) = try client.send(r, session: session)
        return response.status == 204 || response.status == 200 || response.status == 404
    }

    /// Whether the bucket's lifecycle configuration has an enabled rule with
    /// `AbortIncompleteMultipartUpload` (the backstop for uploads nobody aborts).
    public func lifecycleAbortsIncompleteUploads() throws -> Bool {
        var r = request("GetBucketLifecycleConfiguration", "GET", key: nil)
        r.query = [("lifecycle", "")]
        let (response, _) = try client.send(r, session: session)
        if response.status == 404 { return false }  // NoSuchLifecycleConfiguration
        guard response.status == 200, let xml = XMLReader.parse(response.body) else { throw client.unexpected(r, response) }
        return xml.all("Rule").contains { rule in
            rule.value("Status") == "Enabled" && rule.child("AbortIncompleteMultipartUpload") != nil
        }
    }
}
