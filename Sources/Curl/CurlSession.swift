import CCurl
import Diagnostics
import Foundation
import POSIX

/// A reusable libcurl easy handle: keeps connections (and TLS sessions) alive
/// between requests. Not thread-safe: one per request thread (see `perThread`).
public final class CurlSession {
    private let handle: UnsafeMutableRawPointer
    /// libcurl writes failure details here; it must outlive every transfer.
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)

    public init() {
        CurlGlobal.initialize()
        guard let h = curl_easy_init() else { fatalError("curl_easy_init failed") }
        handle = h
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }

    private static let threadLocal = ThreadLocal { CurlSession() }

    /// One session per thread, created on first use and kept for the thread's life.
    public static var perThread: CurlSession { threadLocal.value }

    /// Sends the request. With a `sink`, a 2xx body is streamed to it in chunks
    /// (other statuses are collected so errors can be read); without, the body is
    /// collected up to `maxBodyBytes`.
    public func perform(_ request: HTTPRequest, maxBodyBytes: Int = 64 * 1024 * 1024,
                        sink: ((UnsafeRawBufferPointer) throws -> Void)? = nil) throws -> HTTPResponse {
        RequestCounters.add("upstream_requests")
        let span = RequestContext.span(.upstream)
        defer { span.end() }
        let transfer = Transfer(request: request, maxBodyBytes: maxBodyBytes, sink: sink)
        curl_easy_reset(handle)
        errorBuffer[0] = 0
        let headerList = try transfer.configure(handle)
        defer { curl_slist_free_all(headerList) }
        let context = Unmanaged.passRetained(transfer)
        defer { context.release() }
        let ctx = context.toOpaque()
        rs_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, ctx)
        rs_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, ctx)
        rs_curl_setopt_pointer(handle, CURLOPT_READDATA, ctx)
        rs_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer)
        let code = curl_easy_perform(handle)
        transfer.closeFile()
        if let e = transfer.sinkError { throw e }
        if let e = transfer.readError { throw e }
        guard code == CURLE_OK else {
            let detail = String(cString: errorBuffer)
            throw TransferError(code: Int(code.rawValue),
                                message: detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail)
        }
        var status = 0
        rs_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, headers: transfer.headers, body: transfer.body)
    }
}

enum CurlGlobal {
    private static let once: Void = { curl_global_init(Int(CURL_GLOBAL_ALL)) }()
    static func initialize() { _ = once }
}
