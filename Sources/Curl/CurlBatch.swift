import CCurl
import Diagnostics
import Foundation
import POSIX

/// Runs many small requests at once over one libcurl multi handle, at most
/// `concurrency` in flight, reusing its connections between batches. Used where a
/// sequence of round trips would add up (fetching many metadata objects).
/// Not thread-safe: one per request thread (see `perThread`).
public final class CurlBatch {
    private let multi: UnsafeMutableRawPointer
    private var idle: [UnsafeMutableRawPointer] = []

    public init() {
        CurlGlobal.initialize()
        guard let m = curl_multi_init() else { fatalError("curl_multi_init failed") }
        multi = m
    }

    deinit {
        for h in idle { curl_easy_cleanup(h) }
        curl_multi_cleanup(multi)
    }

    private static let threadLocal = ThreadLocal { CurlBatch() }

    /// One batch per thread, created on first use and kept for the thread's life.
    public static var perThread: CurlBatch { threadLocal.value }

    /// One result per request, in the order given. Bodies are collected in memory
    /// (up to `maxBodyBytes` each).
    public func perform(_ requests: [HTTPRequest], concurrency: Int = 16,
                        maxBodyBytes: Int = 1024 * 1024) -> [Result<HTTPResponse, TransferError>] {
        var results = [Result<HTTPResponse, TransferError>?](repeating: nil, count: requests.count)
        var next = 0
        var running: [UnsafeMutableRawPointer: (index: Int, transfer: Unmanaged<Transfer>, headers: UnsafeMutablePointer<curl_slist>?)] = [:]

        RequestCounters.add("upstream_requests", requests.count)
        func start(_ index: Int) {
            let h = idle.popLast() ?? curl_easy_init()!
            curl_easy_reset(h)
            let transfer = Transfer(request: requests[index], maxBodyBytes: maxBodyBytes, sink: nil)
            let headers: UnsafeMutablePointer<curl_slist>?
            do {
                headers = try transfer.configure(h)
            } catch {
                results[index] = .failure(error as? TransferError ?? TransferError(code: -1, message: "\(error)"))
                idle.append(h)
                return
            }
            let context = Unmanaged.passRetained(transfer)
            rs_curl_setopt_pointer(h, CURLOPT_WRITEDATA, context.toOpaque())
            rs_curl_setopt_pointer(h, CURLOPT_HEADERDATA, context.toOpaque())
            rs_curl_setopt_pointer(h, CURLOPT_READDATA, context.toOpaque())
            running[h] = (index, context, headers)
            curl_multi_add_handle(multi, h)
        }

        while next < requests.count || !running.isEmpty {
            while running.count < max(1, concurrency) && next < requests.count {
                start(next)
                next += 1
            }
            var stillRunning: Int32 = 0
            curl_multi_perform(multi, &stillRunning)
            var queued: Int32 = 0
            while let message = curl_multi_info_read(multi, &queued) {
                guard message.pointee.msg == CURLMSG_DONE, let h = message.pointee.easy_handle,
                      let entry = running.removeValue(forKey: h) else { continue }
                let code = message.pointee.data.result
                let transfer = entry.transfer.takeRetainedValue()
                transfer.closeFile()
                if code == CURLE_OK, transfer.sinkError == nil {
                    var status = 0
                    rs_curl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &status)
                    results[entry.index] = .success(HTTPResponse(status: status, headers: transfer.headers, body: transfer.body))
                } else {
                    let message = ((transfer.sinkError ?? transfer.readError) as? TransferError)?.message
                        ?? String(cString: curl_easy_strerror(code))
                    results[entry.index] = .failure(TransferError(code: Int(code.rawValue), message: message))
                }
                curl_multi_remove_handle(multi, h)
                curl_slist_free_all(entry.headers)
                idle.append(h)
            }
            if !running.isEmpty && stillRunning > 0 {
                curl_multi_poll(multi, nil, 0, 100, nil)
            }
        }
        return results.map { $0! }
    }
}
