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
        while !pending.isEmpty {
            let s3Requests = pending.map { store.request("GetObject", "GET", key: $0.key) }
            let prepared: [HTTPRequest]
            do { prepared = try zip(s3Requests, pending).map { try client.prepare($0, form: $1.forms[$1.form]) } } catch {
                for p in pending { results[p.key] = .failure(error as? StorageError ?? .unavailable("\(error)")) }
                break
            }
            let answers = CurlBatch.perThread.perform(prepared, concurrency: store.options.fetchConcurrency,
                                                      maxBodyBytes: 16 * 1024 * 1024)
            var again: [(pending: Pending, reason: String)] = []
            var resign: [Pending] = []  // refused signatures, asked again at once in the other form
            for (i, answer) in answers.enumerated() {
                let p = pending[i]
                let key = p.key
                switch answer {
                case .success(let response) where response.status == 200 || response.status == 404:
                    Metrics.s3Attempt("GetObject", .success)
                    client.noteAccepted(p.forms[p.form], among: p.forms)
                    results[key] = response.status == 200 ? .success(response.body) : .failure(.notFound(key))
                case .success(let response) where response.status == 403 && p.form + 1 < p.forms.count
                    && S3Client.refusesSignature(s3Requests[i], S3ErrorDetail(response)):
                    Metrics.s3Attempt("GetObject", .refused)
                    var next = p
                    next.form += 1
                    resign.append(next)
                case .success(let response) where RetryPolicy.isRetryable(status: response.status):
                    Metrics.s3Attempt("GetObject", .serverError)
                    let detail = S3ErrorDetail(response)
                    client.log(s3Requests[i], detail, attempt: attempt, final: attempt >= client.retry.maxAttempts)
                    again.append((p, detail.description))
                case .success(let response):
                    Metrics.s3Attempt("GetObject", .answered(status: response.status))
                    results[key] = .failure(client.unexpected(s3Requests[i], response))
                case .failure(let e):
                    Metrics.s3Attempt("GetObject", .networkError)
                    Log.warning("S3 request failed", ["operation": "GetObject", "key": key, "attempt": attempt, "error": e.message])
                    if e.code > 0 { again.append((p, e.message)) } else { results[key] = .failure(.unavailable(e.message)) }
                }
            }
            if !again.isEmpty && attempt >= client.retry.maxAttempts {
                for (p, reason) in again {
                    results[p.key] = .failure(.unavailable("S3 GetObject failed after \(attempt) attempts: \(reason)"))
                }
                again = []
            }
            if !again.isEmpty {
                for _ in again { Metrics.s3Retry("GetObject") }
                Thread.sleep(forTimeInterval: client.retry.delay(after: attempt))
                attempt += 1
            }
            pending = resign + again.map(\.pending)
        }
        return results
    }
}
