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
    /// S3 may answer 200 and then an `<Error>` document (CompleteMultipartUpload
    /// commits to the status before the work is done): judge such a body as an error.
    var errorIn200 = false
    /// The response body streams to the caller's client for as long as it takes
    /// (audio downloads): the budget bounds reaching S3, not the transfer, which
    /// the low-speed limit guards.
    var streamsResponse = false

    init(_ operation: String, _ method: String, key: String?, timeout: Double) {
        self.operation = operation
        self.method = method
        self.key = key
        self.timeout = timeout
    }
}

/// What S3 said when it said no, for logs, retry decisions and `StoreFailure`.
struct S3ErrorDetail: CustomStringConvertible {
    var status: Int
    var code: String?
    var message: String?
    var requestID: String?
    /// The server's `Retry-After`, in seconds.
    var retryAfter: Double?

    init(_ response: HTTPResponse) {
        status = response.status
        let xml = XMLReader.parse(response.body)
        // Only an <Error> document names an error (a 200's result has no Code).
        let error = xml?.name == "Error" ? xml : nil
        code = error?.value("Code")
        message = error?.value("Message")
        requestID = response.header("x-amz-request-id") ?? error?.value("RequestId")
        retryAfter = Transience.retryAfter(response.header("retry-after"))
    }

    var isTransient: Bool { Transience.isTransient(status: status, code: code) }

    var description: String {
        "HTTP \(status)" + (code.map { " \($0)" } ?? "") + (message.map { ": \($0)" } ?? "")
            + (requestID.map { " (request id \($0))" } ?? "")
    }

    func failure(_ kind: StoreFailure.Kind, _ operation: String, _ reason: String) -> StoreFailure {
        StoreFailure(kind, reason, operation: operation, status: status, code: code, requestID: requestID)
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
    /// Shared by every request of the process (see `CircuitBreaker`).
    let breaker: CircuitBreaker

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

    /// Sends `r`, retrying what AWS calls transient (`Transience`) and connection
    /// failures while the request's budget (`Deadline.current`) and the attempts
    /// last. Returns every other answer (2xx, 3xx, 4xx but 403) with the number of
    /// attempts it took; throws `.unavailable` (a structured `StoreFailure`) when S3
    /// stays unreachable, refuses our credentials, the budget is spent or the
    /// circuit breaker is open.
    /// With a sink, a failure after the first byte reached it is not retried.
    /// A custom endpoint refusing the signature is asked once more, signed in the other
    /// form (see `SigningForm`); that is not counted as another attempt.
    func send(_ r: S3Request, session: CurlSession, maxBodyBytes: Int = 16 * 1024 * 1024,
              sink: ((UnsafeRawBufferPointer) throws -> Void)? = nil) throws -> (response: HTTPResponse, attempts: Int) {
        let deadline = Deadline.current
        var probe = false
        switch breaker.admit() {
        case .rejected(let after):
            throw StorageError.unavailable(StoreFailure(.breakerOpen, "S3 \(r.operation) skipped: the circuit breaker is open",
                                                        operation: r.operation, retryAfter: after))
        case .probe: probe = true
        case .allowed: break
        }
        // A probe that ends without S3's verdict (budget spent, a local error) lets another probe.
        defer { if probe { breaker.abandonProbe() } }
        func record(_ success: Bool) {
            breaker.record(success: success, probe: probe)
            probe = false
        }

        var delivered = false
        let counting: ((UnsafeRawBufferPointer) throws -> Void)? = sink.map { sink in
            { chunk in delivered = true; try sink(chunk) }
        }
        let forms = forms(for: r)
        var form = 0
        var attempt = 0
        while true {
            attempt += 1
            var request = try prepare(r, form: forms[form])
            if let deadline {
                let left = deadline.remaining
                guard left >= RetryPolicy.minimumAttemptSeconds else {
                    throw StorageError.unavailable(StoreFailure(.deadline, "S3 \(r.operation): the request's time budget is spent"
                                                                + (attempt > 1 ? " after \(attempt - 1) attempts" : ""), operation: r.operation))
                }
                bound(&request, r, remaining: left)
            }
            let outcome: Result<HTTPResponse, TransferError>
            do {
                outcome = .success(try session.perform(request, maxBodyBytes: maxBodyBytes, sink: counting))
            } catch let e as TransferError {
                outcome = .failure(e)
            }
            // Any other error came from the sink (the caller's), or reading the upload file.
            let failure: StoreFailure
            var retryAfter: Double?
            switch outcome {
            case .success(let response) where response.status == 403:
                Metrics.s3Attempt(r.operation, .refused)
                let detail = S3ErrorDetail(response)
                if form + 1 < forms.count, Self.refusesSignature(r, detail) {
                    form += 1
                    attempt -= 1
                    continue
                }
                record(true)  // S3 answered: it is up, it just says no
                log(r, detail, attempt: attempt, final: true)
                throw StorageError.unavailable(detail.failure(.refused, r.operation, "S3 refused \(r.operation): \(detail)"))
            case .success(let response) where Self.isError(response, r):
                let detail = S3ErrorDetail(response)
                guard detail.isTransient else {
                    Metrics.s3Attempt(r.operation, .answered(status: response.status))
                    record(true)
                    noteAccepted(forms[form], among: forms)
                    return (response, attempt)
                }
                Metrics.s3Attempt(r.operation, .serverError)
                record(false)
                log(r, detail, attempt: attempt, final: attempt >= retry.maxAttempts || delivered)
                failure = detail.failure(.serverError, r.operation,
                                         "S3 \(r.operation) failed after \(attempt) attempt\(attempt == 1 ? "" : "s"): \(detail)")
                retryAfter = detail.retryAfter
            case .success(let response):
                record(true)
                Metrics.s3Attempt(r.operation, .answered(status: response.status))
                noteAccepted(forms[form], among: forms)
                return (response, attempt)
            case .failure(let e):
                guard e.code > 0 else {
                    // Negative codes are local (the upload file): S3 is not to blame.
                    throw StorageError.unavailable(StoreFailure(.other, "S3 \(r.operation): \(e.message)", operation: r.operation))
                }
                record(false)
                Log.warning("S3 request failed", ["operation": r.operation, "key": r.key ?? "", "attempt": attempt, "error": e.message])
                failure = StoreFailure(e.code == 28 ? .deadline : .unreachable,
                                       "S3 \(r.operation) failed after \(attempt) attempt\(attempt == 1 ? "" : "s"): \(e.message)",
                                       operation: r.operation)
            }
            let wait = delivered || breaker.isOpen ? nil
                : retry.wait(after: attempt, retryAfter: retryAfter, remaining: deadline?.remaining)
            guard let wait else {
                throw StorageError.unavailable(failure)
            }
            Metrics.s3Retry(r.operation)
            if wait > 0 { Thread.sleep(forTimeInterval: wait) }
        }
    }

    /// Fits one attempt into what is left of the budget: the connection, and the
    /// whole exchange unless the body streams to a client at its own pace.
    func bound(_ request: inout HTTPRequest, _ r: S3Request, remaining: Double) {
        request.connectTimeout = min(request.connectTimeout, remaining)
        guard !r.streamsResponse else { return }
        request.timeout = request.timeout > 0 ? min(request.timeout, remaining) : remaining
        request.lowSpeedTime = min(request.lowSpeedTime, max(1, Int(remaining.rounded(.up))))
    }

    /// An answer that is an S3 error: any 5xx or 4xx (403 is handled before), a 429,
    /// or a 200 whose body is an `<Error>` where S3 may send one.
    static func isError(_ response: HTTPResponse, _ r: S3Request) -> Bool {
        if response.status >= 400 { return true }
        guard r.errorIn200, response.status == 200 else { return false }
        return XMLReader.parse(response.body)?.name == "Error"
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
        return .unavailable(detail.failure(.other, r.operation, "S3 \(r.operation): unexpected \(detail)"))
    }
}
