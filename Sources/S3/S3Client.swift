import Curl
import Diagnostics
import Foundation
import Storage
import Digests

/// One S3 call before signing.
struct S3Request: Sendable {
    var method: String
    /// Nil for a bucket-level call.
    var key: String?
    var query: [(name: String, value: String)] = []
    var headers: [(name: String, value: String)] = []
    var body: HTTPRequest.Body = .none
    /// Hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`.
    var payloadHash: String = Digest.emptySHA256
    /// Seconds for the whole exchange (0: none, for large transfers that rely on the low-speed limit).
    var timeout: Double
    /// What the log calls this request.
    var operation: String

    init(_ operation: String, _ method: String, key: String?, timeout: Double) {
        self.operation = operation
        self.method = method
        self.key = key
        self.timeout = timeout
    }
}

/// What S3 said when it said no, for logs and error messages.
struct S3ErrorDetail: CustomStringConvertible {
    var status: Int
    var code: String?
    var message: String?
    var requestID: String?

    init(_ response: HTTPResponse) {
        status = response.status
        let xml = XMLReader.parse(response.body)
        code = xml?.value("Code")
        message = xml?.value("Message")
        requestID = response.header("x-amz-request-id") ?? xml?.value("RequestId")
    }

    var description: String {
        "HTTP \(status)" + (code.map { " \($0)" } ?? "") + (message.map { ": \($0)" } ?? "")
            + (requestID.map { " (request id \($0))" } ?? "")
    }
}

/// Signs and sends S3 requests, retrying what may succeed on a second try.
struct S3Client: Sendable {
    let bucket: String
    let signer: SigV4Signer
    let addressing: S3Addressing
    let credentials: any CredentialsProvider
    var retry: RetryPolicy
    var connectTimeout: Double
    var lowSpeedTime: Int
    /// Nil for AWS, which is only ever sent the AWS signing form; for a custom endpoint,
    /// the form it last accepted (see `SigningForm`).
    let signingForms: SigningFormPreference?

    /// The request as libcurl will send it, signed now in `form`. The URL is the same in
    /// every form; only what the signature covers differs.
    func prepare(_ r: S3Request, form: SigningForm = .aws, date: Date = Date()) throws(StorageError) -> HTTPRequest {
        let creds: AWSCredentials
        do { creds = try credentials.credentials() } catch {
            throw .unavailable("no AWS credentials: \(error)")
        }
        let path = addressing.path(key: r.key)
        var headers = r.headers
        headers.append(("Host", addressing.host))
        headers.append(("x-amz-content-sha256", r.payloadHash))
        let toSign = SigV4Signer.Request(method: r.method, path: path, query: r.query, headers: headers, payloadHash: r.payloadHash)
        switch form {
        case .aws:
            headers += signer.signatureHeaders(for: toSign, credentials: creds, date: date)
        case .decodedURL:
            headers += signer.signatureHeaders(for: toSign, canonicalURI: SigningForm.decodedPath(path) ?? path,
                                               canonicalQuery: SigningForm.decodedQuery(r.query), credentials: creds, date: date)
        }
        var request = HTTPRequest(method: r.method, url: url(path: path, query: r.query), headers: headers, body: r.body)
        request.connectTimeout = connectTimeout
        request.timeout = r.timeout
        request.lowSpeedTime = lowSpeedTime
        return request
    }

    func url(path: String, query: [(name: String, value: String)]) -> String {
        guard !query.isEmpty else { return addressing.origin + path }
        // The canonical form, so the query sent is the query signed; bare names for
        // subresources such as `?uploads`.
        let q = SigV4Signer.canonicalQuery(query).split(separator: "&")
            .map { $0.hasSuffix("=") ? String($0.dropLast()) : String($0) }
            .joined(separator: "&")
        return addressing.origin + path + "?" + q
    }

    /// The forms to sign `r` in, in order: the AWS form alone for AWS, or when stock moto
    /// would verify the same canonical request anyway; else the form the endpoint last
    /// accepted first, the other as the fallback.
    func forms(for r: S3Request) -> [SigningForm] {
        guard let signingForms else { return [.aws] }
        let path = addressing.path(key: r.key)
        guard let decodedPath = SigningForm.decodedPath(path),
              decodedPath != path || SigningForm.decodedQuery(r.query) != SigV4Signer.canonicalQuery(r.query) else { return [.aws] }
        return signingForms.first == .aws ? [.aws, .decodedURL] : [.decodedURL, .aws]
    }

    /// A refusal the other signing form may pass. A HEAD answer has no body to name the
    /// code, so any 403 to a HEAD counts (at worst one more refused HEAD).
    static func refusesSignature(_ r: S3Request, _ detail: S3ErrorDetail) -> Bool {
        detail.status == 403 && (detail.code == "SignatureDoesNotMatch" || (r.method == "HEAD" && detail.code == nil))
    }

    /// Remembers the form a custom endpoint took, when there was a choice.
    func noteAccepted(_ form: SigningForm, among forms: [SigningForm]) {
        guard forms.count > 1, let signingForms, signingForms.first != form else { return }
        signingForms.accepted(form)
        Log.info("S3 endpoint verifies signatures over the " + (form == .aws ? "URL as sent" : "decoded URL (as stock moto does)"),
                 ["origin": addressing.origin])
    }

    /// Sends `r`, retrying connection failures and 5xx. Returns every other answer
    /// (2xx, 3xx, 4xx but 403) with the number of attempts it took; throws
    /// `.unavailable` when S3 stays unreachable or refuses our credentials.
    /// With a sink, a failure after the first byte reached it is not retried.
    /// A custom endpoint refusing the signature is asked once more, signed in the other
    /// form (see `SigningForm`); that is not counted as another attempt.
    func send(_ r: S3Request, session: CurlSession, maxBodyBytes: Int = 16 * 1024 * 1024,
              sink: ((UnsafeRawBufferPointer) throws -> Void)? = nil) throws -> (response: HTTPResponse, attempts: Int) {
        var delivered = false
        let counting: ((UnsafeRawBufferPointer) throws -> Void)? = sink.map { sink in
            { chunk in delivered = true; try sink(chunk) }
        }
        let forms = forms(for: r)
        var form = 0
        var attempt = 0
        while true {
            attempt += 1
            let request = try prepare(r, form: forms[form])
            let outcome: Result<HTTPResponse, TransferError>
            do {
                outcome = .success(try session.perform(request, maxBodyBytes: maxBodyBytes, sink: counting))
            } catch let e as TransferError {
                outcome = .failure(e)
            }
            // Any other error came from the sink (the caller's), or reading the upload file.
            let retryable: Bool
            let reason: String
            switch outcome {
            case .success(let response) where response.status == 403:
                Metrics.s3Attempt(r.operation, .refused)
                let detail = S3ErrorDetail(response)
                if form + 1 < forms.count, Self.refusesSignature(r, detail) {
                    form += 1
                    attempt -= 1
                    continue
                }
                log(r, detail, attempt: attempt, final: true)
                throw StorageError.unavailable("S3 refused \(r.operation): \(detail)")
            case .success(let response) where RetryPolicy.isRetryable(status: response.status):
                Metrics.s3Attempt(r.operation, .serverError)
                let detail = S3ErrorDetail(response)
                log(r, detail, attempt: attempt, final: attempt >= retry.maxAttempts || delivered)
                retryable = true
                reason = detail.description
            case .success(let response):
                Metrics.s3Attempt(r.operation, .answered(status: response.status))
                noteAccepted(forms[form], among: forms)
                return (response, attempt)
            case .failure(let e):
                Metrics.s3Attempt(r.operation, .networkError)
                Log.warning("S3 request failed", ["operation": r.operation, "key": r.key ?? "", "attempt": attempt, "error": e.message])
                retryable = e.code > 0  // libcurl's errors; negative codes are local (the upload file)
                reason = e.message
            }
            guard retryable, attempt < retry.maxAttempts, !delivered else {
                throw StorageError.unavailable("S3 \(r.operation) failed after \(attempt) attempt\(attempt == 1 ? "" : "s"): \(reason)")
            }
            Metrics.s3Retry(r.operation)
            Thread.sleep(forTimeInterval: retry.delay(after: attempt))
        }
    }

    /// The S3 error code and request id go to the log; attempt 0 means "not retried".
    func log(_ r: S3Request, _ d: S3ErrorDetail, attempt: Int, final: Bool) {
        let message = final ? "S3 request failed" : "S3 request failed, retrying"
        Log.warning(message, ["operation": r.operation, "key": r.key ?? "", "status": d.status, "code": d.code ?? "",
                              "s3_request_id": d.requestID ?? "", "attempt": max(attempt, 1), "detail": d.message ?? ""])
    }

    /// An answer the caller did not expect, logged and turned into `.unavailable`.
    func unexpected(_ r: S3Request, _ response: HTTPResponse) -> StorageError {
        let detail = S3ErrorDetail(response)
        log(r, detail, attempt: 0, final: true)
        return .unavailable("S3 \(r.operation): unexpected \(detail)")
    }
}
