import Curl
import Diagnostics
import Foundation
import Storage
import Digests
import Synchronization

/// The `ObjectStore` of an S3 bucket (AWS, or an S3-compatible server), over libcurl
/// with our own SigV4. Every request thread uses its own keep-alive connection
/// (`CurlSession.perThread`); many small reads go out together (`CurlBatch`).
public final class S3Store: ObjectStore {
    public let bucket: String
    public let region: String
    public let options: S3Options
    let client: S3Client
    /// Upload id → when this process first saw it incomplete (see `removeStaleLeftovers`).
    let uploadSightings = Mutex<[String: Double]>([:])

    public var kind: StoreKind { .s3 }

    /// - Parameter endpoint: an S3-compatible endpoint (`AWS_ENDPOINT_URL_S3`), addressed
    ///   path-style; nil for AWS, addressed virtual-hosted in `region`.
    public init(bucket: String, region: String, endpoint: String? = nil,
                credentials: any CredentialsProvider, options: S3Options = S3Options()) {
        self.bucket = bucket
        self.region = region
        self.options = options
        client = S3Client(bucket: bucket, signer: SigV4Signer(region: region),
                          addressing: S3Addressing(bucket: bucket, region: region, endpoint: endpoint),
                          credentials: credentials, retry: options.retry,
                          connectTimeout: options.connectTimeout, lowSpeedTime: options.lowSpeedTime,
                          signingForms: endpoint == nil ? nil : SigningFormPreference(),
                          breaker: CircuitBreaker(threshold: options.breakerThreshold, coolDown: options.breakerCoolDown))
    }

    var session: CurlSession { CurlSession.perThread }

    func request(_ operation: String, _ method: String, key: String?) -> S3Request {
        S3Request(operation, method, key: key, timeout: options.requestTimeout)
    }

    // MARK: Writes

    public func put(key: String, file: StagedFile, contentType: String, condition: WriteCondition) throws -> ObjectInfo {
        try S3Keys.check(key)
        try precheck(key: key, condition: condition)
        if file.size >= options.multipartThreshold {
            return try MultipartUpload(store: self, key: key, file: file, contentType: contentType, condition: condition).run()
        }
        var r = request("PutObject", "PUT", key: key)
        r.body = .file(path: file.path, offset: 0, length: file.size)
        r.payloadHash = file.sha256
        r.timeout = 0  // a large file may take long; the low-speed limit catches a stall
        r.headers = [("Content-Type", contentType), ("x-amz-meta-sha256", file.sha256)] + conditionHeaders(condition)
        return try finishPut(r, key: key, size: file.size, sha256: file.sha256, condition: condition)
    }

    public func put(key: String, bytes: [UInt8], contentType: String, condition: WriteCondition) throws -> ObjectInfo {
        try S3Keys.check(key)
        let sha256 = Digest.hex(Digest.sha256(bytes))
        var r = request("PutObject", "PUT", key: key)
        r.body = .bytes(bytes)
        r.payloadHash = sha256
        r.headers = [("Content-Type", contentType), ("x-amz-meta-sha256", sha256)] + conditionHeaders(condition)
        return try finishPut(r, key: key, size: Int64(bytes.count), sha256: sha256, condition: condition)
    }

    func conditionHeaders(_ condition: WriteCondition) -> [(name: String, value: String)] {
        switch condition {
        case .none: []
        case .createOnly: [("If-None-Match", "*")]
        case .ifMatch(let etag): [("If-Match", "\"\(etag)\"")]
        }
    }

    /// A HEAD before a conditional upload: it spares sending a large file only to
    /// be refused, and it is the check on servers that ignore the conditional
    /// headers (the headers stay: where honoured, they make the write atomic).
    func precheck(key: String, condition: WriteCondition) throws {
        switch condition {
        case .none: return
        case .createOnly:
            if try head(key: key) != nil { throw StorageError.alreadyExists(key) }
        case .ifMatch(let etag):
            guard let info = try head(key: key), info.etag == etag else { throw StorageError.preconditionFailed(key) }
        }
    }

    func finishPut(_ r: S3Request, key: String, size: Int64, sha256: String, condition: WriteCondition) throws -> ObjectInfo {
        let (response, attempts) = try client.send(r, session: session)
        if response.status == 200 { return info(key: key, size: size, response: response) }
        // 412: the condition failed; 409: a concurrent conditional write; 404: If-Match on
        // a deleted object. A 404 to a create-only write is no such thing (a missing
        // bucket, say): that is the store failing, never "already exists".
        let refusals: Set<Int> = condition == .createOnly ? [409, 412] : [404, 409, 412]
        guard condition != .none, refusals.contains(response.status) else { throw client.unexpected(r, response) }
        // A retried write may be refused because our own earlier attempt landed.
        if attempts > 1, let landed = try landed(key: key, sha256: sha256) { return landed }
        throw conditionFailure(condition, key: key)
    }

    func conditionFailure(_ condition: WriteCondition, key: String) -> StorageError {
        if case .createOnly = condition { return .alreadyExists(key) }
        return .preconditionFailed(key)
    }

    /// The object under `key` if it is the content with this hash (written by us).
    func landed(key: String, sha256: String) throws -> ObjectInfo? {
        let (response, _) = try client.send(request("HeadObject", "HEAD", key: key), session: session)
        guard response.status == 200, response.header("x-amz-meta-sha256") == sha256 else { return nil }
        return try info(key: key, response: response)
    }

    func info(key: String, size: Int64, response: HTTPResponse) -> ObjectInfo {
        ObjectInfo(key: key, size: size, lastModified: response.header("last-modified").flatMap(HTTPDate.parse) ?? Date(),
                   etag: Self.unquote(response.header("etag") ?? ""))
    }

    func info(key: String, response: HTTPResponse) throws -> ObjectInfo {
        guard let length = response.header("content-length").flatMap({ Int64($0) }) ?? (response.body.isEmpty ? nil : Int64(response.body.count)),
              let etag = response.header("etag") else {
            throw StorageError.unavailable("S3 answered \(key) without Content-Length or ETag")
        }
        return ObjectInfo(key: key, size: length, lastModified: response.header("last-modified").flatMap(HTTPDate.parse) ?? Date(),
                          etag: Self.unquote(etag))
    }

    static func unquote(_ etag: String) -> String {
        var e = Substring(etag)
        if e.hasPrefix("W/") { e = e.dropFirst(2) }
        if e.count >= 2, e.hasPrefix("\""), e.hasSuffix("\"") { e = e.dropFirst().dropLast() }
        return String(e)
    }

    // MARK: Reads

    public func get(key: String) throws -> (bytes: [UInt8], info: ObjectInfo) {
        try S3Keys.check(key)
        let r = request("GetObject", "GET", key: key)
        let (response, _) = try client.send(r, session: session, maxBodyBytes: 64 * 1024 * 1024)
        switch response.status {
        case 200: return (response.body, try info(key: key, response: response))
        case 404: throw StorageError.notFound(key)
        default: throw client.unexpected(r, response)
        }
    }

    public func getMany(keys: [String]) -> [String: Result<[UInt8], StorageError>] {
        ObjectFetch(store: self, keys: keys).run()
    }

    public func head(key: String) throws -> ObjectInfo? {
        try S3Keys.check(key)
        let r = request("HeadObject", "HEAD", key: key)
        let (response, _) = try client.send(r, session: session)
        switch response.status {
        case 200: return try info(key: key, response: response)
        case 404: return nil
        default: throw client.unexpected(r, response)
        }
    }

    public func read(key: String, range: ByteRange?, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        try S3Keys.check(key)
        var r = request("GetObject", "GET", key: key)
        r.timeout = 0
        r.streamsResponse = true
        if let range { r.headers = [("Range", "bytes=\(range.first)-\(range.last)")] }
        try withoutActuallyEscaping(sink) { sink in
            let (response, _) = try client.send(r, session: session, sink: sink)
            switch response.status {
            case 200, 206: return
            case 404: throw StorageError.notFound(key)
            default: throw client.unexpected(r, response)
            }
        }
    }

    public func list(prefix: String) throws -> [ObjectInfo] {
        try S3Keys.checkPrefix(prefix)
        var objects: [ObjectInfo] = []
        var token: String?
        repeat {
            let page = try listPage(prefix: prefix, continuationToken: token)
            objects += page.objects
            token = page.next
        } while token != nil
        return objects
    }

    /// One ListObjectsV2 page (up to 1,000 keys) and the token of the next, if any.
    func listPage(prefix: String, continuationToken: String?, maxKeys: Int = 1000) throws -> (objects: [ObjectInfo], next: String?) {
        var r = request("ListObjectsV2", "GET", key: nil)
        r.query = [("list-type", "2"), ("prefix", prefix), ("encoding-type", "url"), ("max-keys", String(maxKeys))]
        if let continuationToken { r.query.append(("continuation-token", continuationToken)) }
        let (response, _) = try client.send(r, session: session)
        guard response.status == 200 else { throw client.unexpected(r, response) }
        guard let xml = XMLReader.parse(response.body), xml.name == "ListBucketResult" else {
            throw StorageError.unavailable("S3 ListObjectsV2: unreadable answer")
        }
        let urlEncoded = xml.value("EncodingType") == "url"
        var objects: [ObjectInfo] = []
        for c in xml.all("Contents") {
            guard let raw = c.value("Key"), let key = urlEncoded ? URIEncoding.decodeFormComponent(raw) : raw,
                  let size = c.value("Size").flatMap({ Int64($0) }),
                  let modified = c.value("LastModified").flatMap(Timestamp.parse) else {
                throw StorageError.unavailable("S3 ListObjectsV2: unreadable entry")
            }
            objects.append(ObjectInfo(key: key, size: size, lastModified: modified, etag: Self.unquote(c.value("ETag") ?? "")))
        }
        let truncated = xml.value("IsTruncated") == "true"
        let next = truncated ? xml.value("NextContinuationToken") : nil
        if truncated && (next ?? "").isEmpty { throw StorageError.unavailable("S3 ListObjectsV2: truncated without a continuation token") }
        return (objects, next)
    }

    // MARK: Deletes

    public func delete(prefix: String) throws -> Int {
        let keys = try list(prefix: prefix).map(\.key)
        var start = 0
        while start < keys.count {
            let batch = Array(keys[start..<min(start + 1000, keys.count)])
            try deleteObjects(batch)
            start += batch.count
        }
        return keys.count
    }

    /// One DeleteObjects call (at most 1,000 keys), quiet: S3 names only failures.
    func deleteObjects(_ keys: [String]) throws {
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>"
        for k in keys { xml += "<Object><Key>\(XMLReader.escape(k))</Key></Object>" }
        xml += "</Delete>"
        let body = Array(xml.utf8)
        var r = request("DeleteObjects", "POST", key: nil)
        r.query = [("delete", "")]
        r.body = .bytes(body)
        r.payloadHash = Digest.hex(Digest.sha256(body))
        r.headers = [("Content-Type", "application/xml"), ("Content-MD5", Data(Digest.md5(body)).base64EncodedString())]
        let (response, _) = try client.send(r, session: session)
        guard response.status == 200 else { throw client.unexpected(r, response) }
        guard let result = XMLReader.parse(response.body), result.name == "DeleteResult" else {
            throw StorageError.unavailable("S3 DeleteObjects: unreadable answer")
        }
        let errors = result.all("Error")
        if let first = errors.first {
            Log.error("S3 DeleteObjects left objects", ["failed": errors.count, "key": first.value("Key") ?? "",
                                                         "code": first.value("Code") ?? "", "detail": first.value("Message") ?? ""])
            throw StorageError.unavailable("S3 could not delete \(errors.count) of \(keys.count) objects (\(first.value("Code") ?? "error"))")
        }
    }

    // MARK: Direct access

    public func localPath(key: String) -> String? { nil }

    /// A GET URL signed in its query, valid `seconds` (1 to 900: the API promises at
    /// most 15 minutes). Nil when the key is invalid or no credentials can be had.
    public func presignedURL(key: String, seconds: Int) -> String? {
        presignedURL(key: key, seconds: seconds, date: Date())
    }

    func presignedURL(key: String, seconds: Int, date: Date) -> String? {
        guard (try? S3Keys.check(key)) != nil else { return nil }
        let creds: AWSCredentials
        do { creds = try client.credentials.credentials() } catch {
            Log.warning("cannot presign: no AWS credentials", ["error": "\(error)"])
            return nil
        }
        let path = client.addressing.path(key: key)
        let toSign = SigV4Signer.Request(method: "GET", path: path, headers: [("Host", client.addressing.host)],
                                         payloadHash: "UNSIGNED-PAYLOAD")
        let query = client.signer.presignedQuery(for: toSign, credentials: creds, date: date, expires: min(max(seconds, 1), 900))
        return client.addressing.origin + path + "?" + query
    }

    /// HEAD of the bucket, one attempt with a short timeout.
    public func checkReachable() throws {
        var r = request("HeadBucket", "HEAD", key: nil)
        r.timeout = options.readinessTimeout
        var once = client
        once.retry = RetryPolicy(maxAttempts: 1)
        once.connectTimeout = min(once.connectTimeout, options.readinessTimeout)
        let (response, _) = try Deadline.with(Deadline(secondsFromNow: options.readinessTimeout)) {
            try once.send(r, session: session)
        }
        switch response.status {
        case 200: return
        case 404: throw StorageError.unavailable(StoreFailure(.other, "S3 bucket \(bucket) does not exist", operation: "HeadBucket",
                                                              status: 404, code: "NoSuchBucket"))
        default: throw StorageError.unavailable(StoreFailure(.other, "S3 bucket \(bucket): HTTP \(response.status)", operation: "HeadBucket",
                                                             status: response.status))
        }
    }
}
