import Curl
import Diagnostics
import Foundation
import Storage

/// `getMany`: every object requested at once over one multi handle (bounded by
/// `fetchConcurrency`), never one after another; failures that may pass on a second
/// try are retried together.
struct ObjectFetch {
    let store: S3Store
    let keys: [String]

    /// A key still to fetch, and the signing forms to try for it (see `SigningForm`).
    struct Pending {
        let key: String
        let forms: [SigningForm]
        var form = 0
    }

    func run() -> [String: Result<[UInt8], StorageError>] {
        var results: [String: Result<[UInt8], StorageError>] = [:]
        let client = store.client
        var pending: [Pending] = []
        for key in keys where results[key] == nil && !pending.contains(where: { $0.key == key }) {
            do {
                try S3Keys.check(key)
                pending.append(Pending(key: key, forms: client.forms(for: store.request("GetObject", "GET", key: key))))
            } catch { results[key] = .failure(error) }
        }
        var attempt = 1
        let deadline = Deadline.current
        while !pending.isEmpty {
            // One batch is one S3 "request" to the breaker and the budget.
            var skip: StoreFailure?
            var probe = false
            switch client.breaker.admit() {
            case .rejected(let after):
                skip = StoreFailure(.breakerOpen, "S3 GetObject skipped: the circuit breaker is open", operation: "GetObject", retryAfter: after)
            case .probe: probe = true
            case .allowed: break
            }
            if skip == nil, let deadline, deadline.remaining < RetryPolicy.minimumAttemptSeconds {
                skip = StoreFailure(.deadline, "S3 GetObject: the request's time budget is spent", operation: "GetObject")
            }
            if let skip {
                if probe { client.breaker.abandonProbe() }
                for p in pending { results[p.key] = .failure(.unavailable(skip)) }
                break
            }
            let s3Requests = pending.map { store.request("GetObject", "GET", key: $0.key) }
            var prepared: [HTTPRequest]
            do { prepared = try zip(s3Requests, pending).map { try client.prepare($0, form: $1.forms[$1.form]) } } catch {
                if probe { client.breaker.abandonProbe() }
                for p in pending { results[p.key] = .failure(error as? StorageError ?? .unavailable("\(error)")) }
                break
            }
            if let remaining = deadline?.remaining {
                for i in prepared.indices { client.bound(&prepared[i], s3Requests[i], remaining: remaining) }
            }
            let answers = CurlBatch.perThread.perform(prepared, concurrency: store.options.fetchConcurrency,
                                                      maxBodyBytes: 16 * 1024 * 1024)
            var again: [(pending: Pending, failure: StoreFailure)] = []
            var resign: [Pending] = []  // refused signatures, asked again at once in the other form
            var retryAfter: Double?
            var answered = false
            for (i, answer) in answers.enumerated() {
                let p = pending[i]
                let key = p.key
                switch answer {
                case .success(let response) where response.status == 200 || response.status == 404:
                    answered = true
                    Metrics.s3Attempt("GetObject", .success)
                    client.noteAccepted(p.forms[p.form], among: p.forms)
                    results[key] = response.status == 200 ? .success(response.body) : .failure(.notFound(key))
                case .success(let response) where response.status == 403 && p.form + 1 < p.forms.count
                    && S3Client.refusesSignature(s3Requests[i], S3ErrorDetail(response)):
                    Metrics.s3Attempt("GetObject", .refused)
                    var next = p
                    next.form += 1
                    resign.append(next)
                case .success(let response) where S3ErrorDetail(response).isTransient:
                    Metrics.s3Attempt("GetObject", .serverError)
                    let detail = S3ErrorDetail(response)
                    client.log(s3Requests[i], detail, attempt: attempt, final: attempt >= client.retry.maxAttempts)
                    again.append((p, detail.failure(.serverError, "GetObject", "S3 GetObject failed after \(attempt) attempts: \(detail)")))
                    if let after = detail.retryAfter { retryAfter = max(retryAfter ?? 0, after) }
                case .success(let response):
                    answered = true
                    Metrics.s3Attempt("GetObject", .answered(status: response.status))
                    results[key] = .failure(client.unexpected(s3Requests[i], response))
                case .failure(let e):
                    Metrics.s3Attempt("GetObject", .networkError)
                    Log.warning("S3 request failed", ["operation": "GetObject", "key": key, "attempt": attempt, "error": e.message])
                    if e.code > 0 {
                        again.append((p, StoreFailure(e.code == 28 ? .deadline : .unreachable,
                                                      "S3 GetObject failed after \(attempt) attempts: \(e.message)", operation: "GetObject")))
                    } else {
                        results[key] = .failure(.unavailable(StoreFailure(.other, e.message, operation: "GetObject")))
                    }
                }
            }
            // The batch's verdict for the breaker: any answer means S3 is there.
            if answered || again.isEmpty {
                client.breaker.record(success: true, probe: probe)
            } else {
                client.breaker.record(success: false, probe: probe)
            }
            let wait = again.isEmpty || client.breaker.isOpen ? nil
                : client.retry.wait(after: attempt, retryAfter: retryAfter, remaining: deadline?.remaining)
            if !again.isEmpty, wait == nil {
                for (p, failure) in again {
                    results[p.key] = .failure(.unavailable(failure))
                }
                again = []
            }
            if let wait, !again.isEmpty {
                for _ in again { Metrics.s3Retry("GetObject") }
                if wait > 0 { Thread.sleep(forTimeInterval: wait) }
                attempt += 1
            }
            pending = resign + again.map(\.pending)
        }
        return results
    }
}
