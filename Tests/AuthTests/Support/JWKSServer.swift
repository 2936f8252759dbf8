#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// A tiny HTTP/1.1 server on 127.0.0.1 that answers every request with the
/// current JWKS document, counting requests. It can be told to fail, to be slow,
/// or to hang, like an issuer having a bad day.
final class JWKSServer: Sendable {
    enum Behaviour: Sendable { case serve, fail(status: Int), hang }

    private struct State {
        var body = "{\"keys\":[]}"
        var behaviour = Behaviour.serve
        var delay: Double = 0
        var requests = 0
    }

    private let state = Mutex(State())
    private let listener: Int32
    let port: UInt16

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0, listen(fd, 128) == 0 else { close(fd); throw POSIXError(.EADDRINUSE) }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        Thread.detachNewThread { [self] in acceptLoop(fd) }
    }

    var url: String { "http://127.0.0.1:\(port)/.well-known/jwks.json" }
    var requestCount: Int { state.withLock { $0.requests } }

    func serve(_ jwks: String) { state.withLock { $0.body = jwks; $0.behaviour = .serve } }
    func behave(_ b: Behaviour) { state.withLock { $0.behaviour = b } }
    func setDelay(_ seconds: Double) { state.withLock { $0.delay = seconds } }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop(_ fd: Int32) {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            Thread.detachNewThread { [self] in handle(client) }
        }
    }

    private func handle(_ client: Int32) {
        defer { close(client) }
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !request.ends(with: Array("\r\n\r\n".utf8)) {
            let n = read(client, &buffer, buffer.count)
            if n <= 0 { return }
            request.append(contentsOf: buffer[0..<n])
        }
        let (body, behaviour, delay) = state.withLock { s in
            s.requests += 1
            return (s.body, s.behaviour, s.delay)
        }
        if delay > 0 { Thread.sleep(forTimeInterval: delay) }
        let response: String
        switch behaviour {
        case .serve:
            response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
        case .fail(let status):
            response = "HTTP/1.1 \(status) Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        case .hang:
            Thread.sleep(forTimeInterval: 10)
            return
        }
        let bytes = Array(response.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            sent += n
        }
    }
}

private extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}
