#if canImport(Glibc)
import Glibc
#endif
import Curl
import Diagnostics
import Foundation
import JSON
import Storage
import Digests

/// Resumable uploads in the bucket, so any host can continue an upload another host
/// began, and a host that dies loses nothing it acknowledged. Under
/// `tus_uploads/{id}/` (outside `user_recordings/`, so never listed as a recording):
///
/// - `data`: the target of one S3 multipart upload per tus upload; every full part
///   (at least 5 MiB) is uploaded as soon as it is staged;
/// - `pending-{n}`: the "incomplete part": bytes below the minimum part size wait
///   here between PATCHes (never in a process's memory), and are prepended to the
///   next part;
/// - `info`: the `UploadRecord`, with the parts' ETags, the pending object, and a
///   lease. Every change to it is a conditional write (`If-Match` on its ETag).
///
/// An append first takes the lease (a conditional write): a racing append sees it
/// held, or loses the write, and is refused (409). The lease lasts `leaseSeconds`
/// and is renewed while the body flows, so a host that died mid-PATCH blocks the
/// upload for at most that long. The record counts only bytes in uploaded parts
/// and in the pending object: `Upload-Offset` never runs ahead of S3.
public final class S3UploadStore: UploadStore {
    let store: S3Store
    /// Where parts are staged on their way to S3 (unlinked files).
    let stagingDirectory: String
    let leaseSeconds: TimeInterval
    static let prefix = "tus_uploads/"
    static let minimumPart: Int64 = 5 * 1024 * 1024

    public init(store: S3Store, stagingDirectory: String, leaseSeconds: TimeInterval = 30) {
        self.store = store
        self.stagingDirectory = stagingDirectory
        self.leaseSeconds = leaseSeconds
    }

    static func directory(_ id: String) -> String { prefix + id + "/" }
    static func infoKey(_ id: String) -> String { directory(id) + "info" }
    static func dataKey(_ id: String) -> String { directory(id) + "data" }

    /// S3 allows 10,000 parts: parts grow with the upload's length (at least 5 MiB).
    static func partSize(length: Int64) -> Int64 { max(minimumPart, (length + 9_999) / 10_000) }

    // MARK: The record and its backend fields

    struct Part: Equatable {
        var number: Int
        var etag: String
        var size: Int64
    }

    /// What this store keeps in `UploadRecord.backend`.
    struct Layout {
        var multipartID: String
        var parts: [Part] = []
        var pendingKey: String?
        var pendingSize: Int64 = 0
        var generation: Int = 0
        var leaseToken: String?
        var leaseUntil: Double = 0
        var assembled = false

        init(multipartID: String) { self.multipartID = multipartID }

        init?(_ o: JSONObject) {
            guard let id = o["multipart_id"]?.stringValue else { return nil }
            multipartID = id
            for p in o["parts"]?.arrayValue ?? [] {
                guard let a = p.arrayValue, a.count == 3, case .number(let n)? = a.first, let number = Int(n),
                      let etag = a[1].stringValue, case .number(let s) = a[2], let size = Int64(s) else { return nil }
                parts.append(Part(number: number, etag: etag, size: size))
            }
            pendingKey = o["pending_key"]?.stringValue
            if case .number(let s)? = o["pending_size"] { pendingSize = Int64(s) ?? 0 }
            if case .number(let g)? = o["generation"] { generation = Int(g) ?? 0 }
            leaseToken = o["lease_token"]?.stringValue
            leaseUntil = o["lease_until"]?.doubleValue ?? 0
            assembled = o["assembled"]?.boolValue ?? false
        }

        var json: JSONObject {
            var o = JSONObject([
                ("multipart_id", .string(multipartID)),
                ("parts", .array(parts.map { .array([.int($0.number), .string($0.etag), .number(String($0.size))]) })),
                ("pending_size", .number(String(pendingSize))),
                ("generation", .int(generation)),
                ("assembled", .bool(assembled)),
            ])
            if let pendingKey { o["pending_key"] = .string(pendingKey) }
            if let leaseToken {
                o["lease_token"] = .string(leaseToken)
                o["lease_until"] = .double(leaseUntil)
            }
            return o
        }

        var partBytes: Int64 { parts.reduce(0) { $0 + $1.size } }
    }

    struct Loaded {
        var record: UploadRecord
        var layout: Layout
        var etag: String
    }

    func load(_ id: String) throws -> Loaded? {
        let bytes: [UInt8], info: ObjectInfo
        do { (bytes, info) = try store.get(key: Self.infoKey(id)) } catch StorageError.notFound { return nil }
        guard let record = UploadRecord(bytes: bytes), record.id == id, let layout = Layout(record.backend),
              layout.partBytes + layout.pendingSize == record.offset else {
            Log.error("unreadable upload record", ["key": Self.infoKey(id)])
            return nil
        }
        return Loaded(record: record, layout: layout, etag: info.etag)
    }

    /// Writes the record with `layout`, only over the version `etag` names. A lost
    /// race (another writer got there first) is `.busy`.
    func save(_ record: UploadRecord, _ layout: Layout, over etag: String?) throws -> String {
        var r = record
        r.backend = layout.json
        do {
            return try store.put(key: Self.infoKey(record.id), bytes: r.bytes, contentType: "application/json",
                                 condition: etag.map { .ifMatch($0) } ?? .createOnly).etag
        } catch StorageError.preconditionFailed, StorageError.alreadyExists {
            throw UploadRefusal.busy
        }
    }

    // MARK: UploadStore

    public func create(_ record: UploadRecord) throws {
        guard UploadID.isValid(record.id) else { throw StorageError.invalidKey(record.id) }
        let multipartID = try initiate(Self.dataKey(record.id))
        do {
            _ = try save(record, Layout(multipartID: multipartID), over: nil)
        } catch {
            abort(Self.dataKey(record.id), multipartID)
            throw error
        }
    }

    public func record(id: String) throws -> UploadRecord? {
        guard UploadID.isValid(id) else { return nil }
        return try load(id)?.record
    }

    public func append(id: String, owner: String, at offset: Int64, now: Date, expires: Date,
                       readBody: (UnsafeMutableRawBufferPointer) throws -> Int) throws -> UploadRecord {
        guard UploadID.isValid(id), let loaded = try load(id), loaded.record.owner == owner, loaded.record.expires > now else {
            throw UploadRefusal.notFound
        }
        var layout = loaded.layout
        if layout.leaseToken != nil && layout.leaseUntil > now.timeIntervalSince1970 { throw UploadRefusal.busy }
        guard loaded.record.offset == offset else { throw UploadRefusal.offsetMismatch(stored: loaded.record.offset) }
        guard !layout.assembled else { throw UploadRefusal.pastLength(length: loaded.record.length) }

        // Take the lease: of two racing appends, one write loses.
        let token = UploadID.make()
        layout.leaseToken = token
        layout.leaseUntil = Date().timeIntervalSince1970 + leaseSeconds
        var etag = try save(loaded.record, layout, over: loaded.etag)
        // What S3 durably holds, as last written: the record and its layout.
        var committed = loaded.record
        var committedLayout = layout
        var leaseRenewed = Date()

        let staging = try Staging(directory: stagingDirectory)
        defer { staging.close() }
        var working = committed
        var staleObjects: [String] = []
        do {
            // The incomplete part comes back first: the next part starts with it.
            if let pending = layout.pendingKey {
                try store.read(key: pending, range: nil) { try staging.write($0) }
                guard staging.size == layout.pendingSize else {
                    throw StorageError.unavailable("the pending part \(pending) has \(staging.size) bytes, not \(layout.pendingSize)")
                }
            }
            let partSize = Self.partSize(length: working.length)
            var buffer = [UInt8](repeating: 0, count: 256 * 1024)
            var bodyError: (any Error)?
            while true {
                let n: Int
                do { n = try buffer.withUnsafeMutableBytes { try readBody($0) } } catch {
                    bodyError = error
                    break
                }
                if n == 0 { break }
                guard Int64(n) <= working.length - working.offset else { throw UploadRefusal.pastLength(length: working.length) }
                try buffer.withUnsafeBytes { raw in
                    let chunk = UnsafeRawBufferPointer(rebasing: raw[0..<n])
                    try staging.write(chunk)
                    working.absorb(chunk)
                }
                // A full part goes out at once (the last part, whatever its size, at the end).
                if staging.size >= partSize && working.offset < working.length {
                    try uploadPart(id, staging, &layout)
                    if let old = layout.pendingKey { staleObjects.append(old) }
                    layout.pendingKey = nil
                    layout.pendingSize = 0
                    layout.leaseUntil = Date().timeIntervalSince1970 + leaseSeconds
                    etag = try save(working, layout, over: etag)
                    committed = working
                    committedLayout = layout
                    leaseRenewed = Date()
                } else if Date().timeIntervalSince(leaseRenewed) > leaseSeconds / 3 {
                    // A slow body: keep the lease (the record itself is unchanged).
                    committedLayout.leaseUntil = Date().timeIntervalSince1970 + leaseSeconds
                    layout.leaseUntil = committedLayout.leaseUntil
                    etag = try save(committed, committedLayout, over: etag)
                    leaseRenewed = Date()
                }
            }
            // What is left: the last part, or the new incomplete part.
            if working.offset != committed.offset || staging.size != layout.pendingSize {
                if working.offset == working.length {
                    if staging.size > 0 { try uploadPart(id, staging, &layout) }
                    if let old = layout.pendingKey { staleObjects.append(old) }
                    layout.pendingKey = nil
                    layout.pendingSize = 0
                } else if staging.size > 0 {
                    layout.generation += 1
                    let key = Self.directory(id) + "pending-\(layout.generation)"
                    try putPending(key, staging)
                    if let old = layout.pendingKey { staleObjects.append(old) }
                    layout.pendingKey = key
                    layout.pendingSize = staging.size
                }
            }
            working.expires = expires
            layout.leaseToken = nil
            layout.leaseUntil = 0
            etag = try save(working, layout, over: etag)
            for key in staleObjects { _ = try? store.delete(prefix: key) }
            if let bodyError {
                Log.info("upload interrupted; the bytes that arrived are kept", ["upload_id": id, "offset": working.offset])
                throw Interrupted(underlying: bodyError)
            }
            return working
        } catch let interrupted as Interrupted {
            throw interrupted.underlying  // already saved, lease given back
        } catch let error as UploadRefusal where error == .busy {
            throw error  // the lease is someone else's now: leave the record alone
        } catch {
            // Give the lease back over the last durable state (parts uploaded since
            // are overwritten by the next append, which numbers from the committed
            // ones). S3 may be down: then the lease lapses by itself.
            committedLayout.leaseToken = nil
            committedLayout.leaseUntil = 0
            _ = try? save(committed, committedLayout, over: etag)
            throw error
        }
    }

    public func content(of record: UploadRecord) throws -> NewObject.Content {
        guard var loaded = try load(record.id), loaded.record.isComplete else { throw StorageError.notFound(record.id) }
        if !loaded.layout.assembled {
            if loaded.layout.parts.isEmpty {
                // S3 cannot complete a multipart upload of no parts: an empty upload is an empty object.
                abort(Self.dataKey(record.id), loaded.layout.multipartID)
                _ = try store.put(key: Self.dataKey(record.id), bytes: [], contentType: "application/octet-stream", condition: .none)
            } else {
                try complete(Self.dataKey(record.id), loaded.layout)
            }
            loaded.layout.assembled = true
            _ = try save(loaded.record, loaded.layout, over: loaded.etag)
        }
        return .copy(StoredCopySource(store: .s3, key: Self.dataKey(record.id), size: record.length,
                                      sha256: loaded.record.hash.hexDigest()))
    }

    public func remove(id: String) throws {
        guard UploadID.isValid(id) else { return }
        if let loaded = try load(id), !loaded.layout.assembled {
            abort(Self.dataKey(id), loaded.layout.multipartID)
        }
        for upload in try multipartUploads(prefix: Self.directory(id)) { abort(upload.key, upload.id) }
        _ = try store.delete(prefix: Self.directory(id))
    }

    /// Expired uploads, and the leftovers of uploads whose record never landed
    /// (a crash between CreateMultipartUpload and the record) after an hour.
    public func sweep(now: Date) throws -> Int {
        let objects = try store.list(prefix: Self.prefix)
        var ids = Set<String>()
        var withInfo = Set<String>()
        var newest: [String: Date] = [:]
        for o in objects {
            let rest = o.key.dropFirst(Self.prefix.count)
            guard let slash = rest.firstIndex(of: "/") else { continue }
            let id = String(rest[..<slash])
            ids.insert(id)
            if rest[rest.index(after: slash)...] == "info" { withInfo.insert(id) }
            newest[id] = max(newest[id] ?? .distantPast, o.lastModified)
        }
        let orphanAge: TimeInterval = 3600
        var removed = 0
        for id in ids.sorted() {
            if withInfo.contains(id) {
                guard let loaded = try load(id), loaded.record.expires <= now else { continue }
            } else {
                guard let last = newest[id], now.timeIntervalSince(last) > orphanAge else { continue }
            }
            try remove(id: id)
            removed += 1
        }
        for upload in try multipartUploads(prefix: Self.prefix) {
            let rest = upload.key.dropFirst(Self.prefix.count)
            let id = String(rest.prefix { $0 != "/" })
            if !withInfo.contains(id), now.timeIntervalSince(upload.initiated) > orphanAge { abort(upload.key, upload.id) }
        }
        if removed > 0 { Log.info("expired uploads removed", ["count": removed, "store": "s3"]) }
        return removed
    }

    // MARK: S3 calls

    func initiate(_ key: String) throws -> String {
        var r = store.request("CreateMultipartUpload", "POST", key: key)
        r.query = [("uploads", "")]
        r.headers = [("Content-Type", "application/octet-stream")]
        let (response, _) = try store.client.send(r, session: store.session)
        guard response.status == 200 else { throw store.client.unexpected(r, response) }
        guard let id = XMLReader.parse(response.body)?.value("UploadId"), !id.isEmpty else {
            throw StorageError.unavailable("S3 CreateMultipartUpload: no UploadId in the answer")
        }
        return id
    }

    /// Sends everything staged as the next part and empties the staging file.
    func uploadPart(_ id: String, _ staging: Staging, _ layout: inout Layout) throws {
        let number = layout.parts.count + 1
        var r = store.request("UploadPart", "PUT", key: Self.dataKey(id))
        r.query = [("partNumber", String(number)), ("uploadId", layout.multipartID)]
        r.body = .file(path: staging.path, offset: 0, length: staging.size)
        r.payloadHash = "UNSIGNED-PAYLOAD"
        r.timeout = 0
        let (response, _) = try store.client.send(r, session: store.session)
        guard response.status == 200, let etag = response.header("etag") else { throw store.client.unexpected(r, response) }
        layout.parts.append(Part(number: number, etag: etag, size: staging.size))
        try staging.reset()
    }

    /// The incomplete part, from the staging file (never in memory).
    func putPending(_ key: String, _ staging: Staging) throws {
        var r = store.request("PutObject", "PUT", key: key)
        r.body = .file(path: staging.path, offset: 0, length: staging.size)
        r.payloadHash = "UNSIGNED-PAYLOAD"
        r.timeout = 0
        r.headers = [("Content-Type", "application/octet-stream")]
        let (response, _) = try store.client.send(r, session: store.session)
        guard response.status == 200 else { throw store.client.unexpected(r, response) }
    }

    func complete(_ key: String, _ layout: Layout) throws {
        var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for p in layout.parts { xml += "<Part><PartNumber>\(p.number)</PartNumber><ETag>\(XMLReader.escape(p.etag))</ETag></Part>" }
        xml += "</CompleteMultipartUpload>"
        let body = Array(xml.utf8)
        var r = store.request("CompleteMultipartUpload", "POST", key: key)
        r.query = [("uploadId", layout.multipartID)]
        r.body = .bytes(body)
        r.payloadHash = Digest.hex(Digest.sha256(body))
        r.headers = [("Content-Type", "application/xml")]
        r.timeout = 900
        let (response, attempts) = try store.client.send(r, session: store.session, maxBodyBytes: 1024 * 1024)
        let answer = XMLReader.parse(response.body)
        if response.status == 200, let answer, answer.name != "Error", answer.child("ETag") != nil { return }
        // A retry whose first attempt completed it: the object is there.
        if attempts > 1, response.status == 404 || answer?.value("Code") == "NoSuchUpload",
           let info = try store.head(key: key), info.size == layout.partBytes { return }
        throw store.client.unexpected(r, response)
    }

    /// Best effort: a multipart upload left behind is found again by the sweep.
    func abort(_ key: String, _ multipartID: String) {
        var r = store.request("AbortMultipartUpload", "DELETE", key: key)
        r.query = [("uploadId", multipartID)]
        do {
            let (response, _) = try store.client.send(r, session: store.session)
            if [200, 204, 404].contains(response.status) { return }
            Log.warning("S3 multipart upload not aborted", ["key": key, "status": response.status])
        } catch {
            Log.warning("S3 multipart upload not aborted", ["key": key, "error": "\(error)"])
        }
    }

    struct MultipartInProgress {
        var key: String
        var id: String
        var initiated: Date
    }

    func multipartUploads(prefix: String) throws -> [MultipartInProgress] {
        var found: [MultipartInProgress] = []
        var keyMarker: String?, idMarker: String?
        repeat {
            var r = store.request("ListMultipartUploads", "GET", key: nil)
            r.query = [("uploads", ""), ("prefix", prefix)]
            if let keyMarker { r.query.append(("key-marker", keyMarker)) }
            if let idMarker { r.query.append(("upload-id-marker", idMarker)) }
            let (response, _) = try store.client.send(r, session: store.session)
            guard response.status == 200, let xml = XMLReader.parse(response.body) else { throw store.client.unexpected(r, response) }
            for u in xml.all("Upload") {
                guard let key = u.value("Key"), let id = u.value("UploadId") else { continue }
                found.append(MultipartInProgress(key: key, id: id, initiated: u.value("Initiated").flatMap(Timestamp.parse) ?? Date()))
            }
            if xml.value("IsTruncated") == "true", let k = xml.value("NextKeyMarker"), !k.isEmpty {
                keyMarker = k
                idMarker = xml.value("NextUploadIdMarker")
            } else {
                keyMarker = nil
            }
        } while keyMarker != nil
        return found
    }
}

/// The client went away after what it sent was saved.
struct Interrupted: Error {
    let underlying: any Error
}

/// A part on its way to S3: an unlinked file (nothing to clean up after a crash),
/// handed to libcurl by its /proc path.
final class Staging {
    let fd: Int32
    private(set) var size: Int64 = 0

    init(directory: String) throws {
        _ = mkdir(directory, 0o700)
        var template = Array((directory + "/.~part.XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw StorageError.unavailable("cannot create a staging file in \(directory): errno \(errno)") }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        self.fd = fd
    }

    var path: String { "/proc/self/fd/\(fd)" }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(size) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw StorageError.unavailable("cannot stage a part: errno \(errno)")
            }
            done += n
        }
        size += Int64(bytes.count)
    }

    func reset() throws {
        guard ftruncate(fd, 0) == 0 else { throw StorageError.unavailable("cannot reset the staging file: errno \(errno)") }
        size = 0
    }

    func close() { Glibc.close(fd) }
}
