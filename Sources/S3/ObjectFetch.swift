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

    func run() -> [String: Result<[UInt8], StorageError>] {
        var results: [String: Result<[UInt8], StorageError>] = [:]
        var pending: [String] = []
        for key in keys where results[key] == nil && !pending.contains(key) {
            do { try S3Keys.check(key); pending.append(key) } catch { results[key] = .failure(error) }
        }
        let client = store.client
        var attempt = 0
        while !pending.isEmpty {
            attempt += 1
            let s3Requests = pending.map { store.request("GetObject", "GET", key: $0) }
            let prepared: [HTTPRequest]
            do { prepared = try s3Requests.map { try client.prepare($0) } } catch {
                for key in pending { results[key] = .failure(error as? StorageError ?? .unavailable("\(error)")) }
                break
            }
            let answers = CurlBatch.perThread.perform(prepared, concurrency: store.options.fetchConcurrency,
                                                      maxBodyBytes: 16 * 1024 * 1024)
            var again: [(key: String, reason: String)] = []
            for (i, answer) in answers.enumerated() {
                let key = pending[i]
                switch answer {
                case .success(let response) where response.status == 200:
                    results[key] = .success(response.body)
                case .success(let response) where response.status == 404:
                    results[key] = .failure(.notFound(key))
                case .success(let response) where RetryPolicy.isRetryable(status: response.status):
                    let detail = S3ErrorDetail(response)
                    client.log(s3Requests[i], detail, attempt: attempt, final: attempt >= client.retry.maxAttempts)
                    again.append((key, detail.description))
                case .success(let response):
                    results[key] = .failure(client.unexpected(s3Requests[i], response))
                case .failure(let e):
                    Log.warning("S3 request failed", ["operation": "GetObject", "key": key, "attempt": attempt, "error": e.message])
                    if e.code > 0 { again.append((key, e.message)) } else { results[key] = .failure(.unavailable(e.message)) }
                }
            }
            pending = again.map(\.key)
            if !again.isEmpty && attempt >= client.retry.maxAttempts {
                for (key, reason) in again {
                    results[key] = .failure(.unavailable("S3 GetObject failed after \(attempt) attempts: \(reason)"))
                }
                break
            }
            if !again.isEmpty { Thread.sleep(forTimeInterval: client.retry.delay(after: attempt)) }
        }
        return results
    }
}
