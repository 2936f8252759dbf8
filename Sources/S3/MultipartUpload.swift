import Curl
import Diagnostics
import Foundation
import Storage
import Synchronization
import Digests

/// A large file sent as an S3 multipart upload: a few threads each stream their
/// parts from the file by offset (memory stays at libcurl's buffers), the parts are
/// completed in order, and any failure aborts the upload so no parts are left behind.
///
/// Parts are sent with `UNSIGNED-PAYLOAD`: hashing each part first would read the
/// file twice; TLS protects them on the way, and the whole file's SHA-256 (computed
/// as it was received) is stored as `x-amz-meta-sha256`.
struct MultipartUpload {
    let store: S3Store
    let key: String
    let file: StagedFile
    let contentType: String
    let condition: WriteCondition

    var client: S3Client { store.client }

    /// S3 allows at most 10,000 parts of at least 5 MiB.
    var partSize: Int64 {
        let minimum: Int64 = 5 * 1024 * 1024
        let needed = (file.size + 9_999) / 10_000
        return max(store.options.partSize, minimum, needed)
    }

    func run() throws -> ObjectInfo {
        let uploadID = try initiate()
        do {
            let etags = try sendParts(uploadID: uploadID)
            return try complete(uploadID: uploadID, etags: etags)
        } catch {
            // Its own few seconds, even when the save's budget is what ran out; if
            // S3 is down the sweep aborts it later.
            Deadline.replacing(Deadline(secondsFromNow: 5)) { abort(uploadID: uploadID) }
            throw error
        }
    }

    func initiate() throws -> String {
        var r = store.request("CreateMultipartUpload", "POST", key: key)
        r.query = [("uploads", "")]
        r.headers = [("Content-Type", contentType), ("x-amz-meta-sha256", file.sha256)]
        let (response, _) = try client.send(r, session: store.session)
        guard response.status == 200 else { throw client.unexpected(r, response) }
        guard let id = XMLReader.parse(response.body)?.value("UploadId"), !id.isEmpty else {
            throw StorageError.unavailable("S3 CreateMultipartUpload: no UploadId in the answer")
        }
        return id
    }

    /// The ETag of each part, in part order.
    func sendParts(uploadID: String) throws -> [String] {
        let size = partSize
        let count = Int((file.size + size - 1) / size)
        let state = PartState(count: count)
        let workers = max(1, min(store.options.partConcurrency, count))
        let group = DispatchGroup()
        // The helper threads work under the request's budget too (it is thread-local).
        let deadline = Deadline.current
        let work: @Sendable () -> Void = { [self] in
          Deadline.replacing(deadline) {
            let session = CurlSession()  // one connection per worker
            while let index = state.next() {
                let offset = Int64(index) * size
                var r = store.request("UploadPart", "PUT", key: key)
                r.query = [("partNumber", String(index + 1)), ("uploadId", uploadID)]
                r.body = .file(path: file.path, offset: offset, length: min(size, file.size - offset))
                r.payloadHash = "UNSIGNED-PAYLOAD"
                r.timeout = 0
                do {
                    let (response, _) = try client.send(r, session: session)
                    guard response.status == 200, let etag = response.header("etag") else { throw client.unexpected(r, response) }
                    state.finish(index, etag: etag)
                } catch {
                    state.fail(error)
                }
            }
          }
        }
        for _ in 1..<workers {
            group.enter()
            Thread.detachNewThread { work(); group.leave() }
        }
        work()
        group.wait()
        return try state.result()
    }

    func complete(uploadID: String, etags: [String]) throws -> ObjectInfo {
        var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for (i, etag) in etags.enumerated() {
            xml += "<Part><PartNumber>\(i + 1)</PartNumber><ETag>\(XMLReader.escape(etag))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let body = Array(xml.utf8)
        var r = store.request("CompleteMultipartUpload", "POST", key: key)
        r.query = [("uploadId", uploadID)]
        r.body = .bytes(body)
        r.payloadHash = Digest.hex(Digest.sha256(body))
        r.headers = [("Content-Type", "application/xml")] + store.conditionHeaders(condition)
        r.errorIn200 = true
        // S3 may take minutes to assemble a large object, sending only spaces meanwhile.
        r.timeout = 900
        var patient = client
        patient.lowSpeedTime = 900
        let (response, attempts) = try patient.send(r, session: store.session, maxBodyBytes: 1024 * 1024)
        // A 200 may still carry an error: S3 commits to the status before it is done.
        let answer = XMLReader.parse(response.body)
        // (AWS names the answer CompleteMultipartUploadResult, moto ...Response.)
        if response.status == 200, let answer, answer.name != "Error", answer.child("ETag") != nil {
            let etag = S3Store.unquote(answer.value("ETag") ?? "")
            return ObjectInfo(key: key, size: file.size, lastModified: Date(), etag: etag)
        }
        let code = answer?.value("Code")
        if attempts > 1, response.status == 404 || response.status == 412 || code == "NoSuchUpload",
           let landed = try store.landed(key: key, sha256: file.sha256) {
            return landed  // an earlier attempt completed it
        }
        let refusals: Set<Int> = condition == .createOnly ? [409, 412] : [404, 409, 412]
        if condition != .none, refusals.contains(response.status) {
            throw store.conditionFailure(condition, key: key)
        }
        throw client.unexpected(r, response)
    }

    /// Best effort, retried: a failed abort leaves parts that cost storage until a
    /// bucket lifecycle rule removes them, so it is logged as an error.
    func abort(uploadID: String) {
        var r = store.request("AbortMultipartUpload", "DELETE", key: key)
        r.query = [("uploadId", uploadID)]
        do {
            let (response, _) = try client.send(r, session: store.session)
            if response.status == 204 || response.status == 200 || response.status == 404 { return }
            Log.error("S3 multipart upload not aborted", ["key": key, "upload_id": uploadID, "status": response.status])
        } catch {
            Log.error("S3 multipart upload not aborted", ["key": key, "upload_id": uploadID, "error": "\(error)"])
        }
    }
}

/// Which parts are taken, which are done, and the first failure (after which no
/// new part starts).
final class PartState: Sendable {
    private struct State {
        var next = 0
        var etags: [String?]
        var failure: Error?
    }
    private let state: Mutex<State>

    init(count: Int) { state = Mutex(State(etags: Array(repeating: nil, count: count))) }

    func next() -> Int? {
        state.withLock { s in
            guard s.failure == nil, s.next < s.etags.count else { return nil }
            defer { s.next += 1 }
            return s.next
        }
    }

    func finish(_ index: Int, etag: String) { state.withLock { $0.etags[index] = etag } }

    func fail(_ error: Error) { state.withLock { s in if s.failure == nil { s.failure = error } } }

    func result() throws -> [String] {
        try state.withLock { s in
            if let failure = s.failure { throw failure }
            return s.etags.map { $0! }
        }
    }
}
