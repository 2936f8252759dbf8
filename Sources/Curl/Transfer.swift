import CCurl
#if canImport(Glibc)
import Glibc
#endif
import POSIX

/// The state of one exchange, reached from libcurl's C callbacks through an
/// unmanaged pointer.
final class Transfer {
    let request: HTTPRequest
    let maxBodyBytes: Int
    let sink: ((UnsafeRawBufferPointer) throws -> Void)?

    var headers: [(name: String, value: String)] = []
    var body: [UInt8] = []
    var status = 0
    var sinkError: Error?
    var readError: Error?
    private var fd: Int32 = -1
    private var sent: Int64 = 0

    init(request: HTTPRequest, maxBodyBytes: Int, sink: ((UnsafeRawBufferPointer) throws -> Void)?) {
        self.request = request
        self.maxBodyBytes = maxBodyBytes
        self.sink = sink
    }

    func closeFile() {
        if fd >= 0 { close(fd); fd = -1 }
    }

    deinit { closeFile() }

    /// Sets every option of `request` on a freshly reset handle; returns the header
    /// list, which must live until the transfer ends.
    func configure(_ h: UnsafeMutableRawPointer) throws -> UnsafeMutablePointer<curl_slist>? {
        rs_curl_setopt_string(h, CURLOPT_URL, request.url)
        rs_curl_setopt_long(h, CURLOPT_NOSIGNAL, 1)
        rs_curl_setopt_string(h, CURLOPT_PROTOCOLS_STR, "http,https")
        // Send the path exactly as given (and signed): no squashing of `/../` or `/./`.
        rs_curl_setopt_long(h, CURLOPT_PATH_AS_IS, 1)
        rs_curl_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, Int(request.connectTimeout * 1000))
        if request.timeout > 0 { rs_curl_setopt_long(h, CURLOPT_TIMEOUT_MS, Int(request.timeout * 1000)) }
        rs_curl_setopt_long(h, CURLOPT_LOW_SPEED_LIMIT, 1024)
        rs_curl_setopt_long(h, CURLOPT_LOW_SPEED_TIME, request.lowSpeedTime)
        rs_curl_setopt_long(h, CURLOPT_TCP_KEEPALIVE, 1)
        rs_curl_setopt_write_cb(h, transferWrite)
        rs_curl_setopt_header_cb(h, transferHeader)

        let length = request.body.length
        switch request.method {
        case "GET": break
        case "HEAD": rs_curl_setopt_long(h, CURLOPT_NOBODY, 1)
        case "PUT":
            rs_curl_setopt_long(h, CURLOPT_UPLOAD, 1)
            rs_curl_setopt_off(h, CURLOPT_INFILESIZE_LARGE, curl_off_t(length))
        case "POST":
            rs_curl_setopt_long(h, CURLOPT_POST, 1)
            rs_curl_setopt_off(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(length))
        default:
            rs_curl_setopt_string(h, CURLOPT_CUSTOMREQUEST, request.method)
            if length > 0 {
                rs_curl_setopt_long(h, CURLOPT_UPLOAD, 1)
                rs_curl_setopt_off(h, CURLOPT_INFILESIZE_LARGE, curl_off_t(length))
            }
        }
        if case .file(let path, let offset, _) = request.body {
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw TransferError(code: -1, message: "cannot open \(path): errno \(errno)") }
            sent = offset
        }
        rs_curl_setopt_read_cb(h, transferRead)

        var list: UnsafeMutablePointer<curl_slist>? = nil
        // No 100-continue round trip before each upload; no default content type on POST.
        var fixed = ["Expect:"]
        if request.method == "POST" && !request.headers.contains(where: { $0.name.lowercased() == "content-type" }) {
            fixed.append("Content-Type:")
        }
        for line in fixed + request.headers.map({ "\($0.name): \($0.value)" }) {
            list = curl_slist_append(list, line)
        }
        rs_curl_setopt_slist(h, CURLOPT_HTTPHEADER, list)
        return list
    }

    func readBody(into dest: UnsafeMutablePointer<CChar>, capacity: Int) -> Int {
        switch request.body {
        case .none:
            return 0
        case .bytes(let bytes):
            let n = min(capacity, bytes.count - Int(sent))
            guard n > 0 else { return 0 }
            bytes.withUnsafeBytes { src in
                UnsafeMutableRawPointer(dest).copyMemory(from: src.baseAddress! + Int(sent), byteCount: n)
            }
            sent += Int64(n)
            return n
        case .file(let path, let offset, let length):
            let remaining = offset + length - sent
            guard remaining > 0 else { return 0 }
            let n: Int
            do {
                n = try FileIO.read(fd, into: dest, count: min(capacity, Int(remaining)), at: sent, path: path)
            } catch {
                readError = TransferError(code: -1, message: String(describing: error))
                return Int(CURL_READFUNC_ABORT)
            }
            guard n > 0 else {
                readError = TransferError(code: -1, message: "upload file \(path) ended early")
                return Int(CURL_READFUNC_ABORT)
            }
            sent += Int64(n)
            return n
        }
    }

    func receive(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if let sink, (200..<300).contains(status) {
            do { try sink(bytes) } catch { sinkError = error; return false }
            return true
        }
        guard body.count + bytes.count <= maxBodyBytes else {
            sinkError = TransferError(code: -1, message: "response body larger than \(maxBodyBytes) bytes")
            return false
        }
        body.append(contentsOf: bytes)
        return true
    }

    func receiveHeader(_ line: String) {
        if line.hasPrefix("HTTP/") {
            // A new response (after a 100 Continue, say): start over.
            headers.removeAll()
            let parts = line.split(separator: " ", maxSplits: 2)
            status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = line[..<colon].lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
        headers.append((name, value))
    }
}

private func transferWrite(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ ctx: UnsafeMutableRawPointer?) -> Int {
    let t = Unmanaged<Transfer>.fromOpaque(ctx!).takeUnretainedValue()
    let n = size * count
    guard n > 0, let data else { return 0 }
    return t.receive(UnsafeRawBufferPointer(start: data, count: n)) ? n : 0
}

private func transferHeader(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ ctx: UnsafeMutableRawPointer?) -> Int {
    let t = Unmanaged<Transfer>.fromOpaque(ctx!).takeUnretainedValue()
    let n = size * count
    guard let data else { return n }
    let line = String(decoding: UnsafeRawBufferPointer(start: data, count: n), as: UTF8.self)
    t.receiveHeader(line.trimmingCharacters(in: .whitespacesAndNewlines))
    return n
}

private func transferRead(_ dest: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ ctx: UnsafeMutableRawPointer?) -> Int {
    let t = Unmanaged<Transfer>.fromOpaque(ctx!).takeUnretainedValue()
    guard let dest else { return 0 }
    return t.readBody(into: dest, capacity: size * count)
}
