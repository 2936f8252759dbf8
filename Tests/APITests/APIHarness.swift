import Auth
import Foundation
import HTTP
import JSON
import Storage
import XCTest
@testable import API

/// `Bearer <sub>` is a token for `<sub>`; anything else is a 401.
struct FakeAuthenticator: Authenticator {
    var problem: String?

    func authenticate(_ request: Request) throws -> Principal {
        guard let header = request.headers["Authorization"], header.hasPrefix("Bearer "), header.count > 7 else {
            var h = Headers()
            h.set("WWW-Authenticate", "Bearer realm=\"recstore\"")
            throw HTTPError(.unauthorized, "Missing or malformed bearer token.", headers: h)
        }
        return Principal(subject: String(header.dropFirst(7)))
    }

    func readinessProblem() -> String? { problem }
}

/// A directory for one test, removed afterwards.
final class Scratch {
    let path: String
    init() {
        path = FileManager.default.temporaryDirectory.path + "/api-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Every regular file under `relative`, relative to it, sorted.
    func files(under relative: String) -> [String] {
        let base = path + "/" + relative
        guard let e = FileManager.default.enumerator(atPath: base) else { return [] }
        var out: [String] = []
        while let name = e.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: base + "/" + name, isDirectory: &isDirectory), !isDirectory.boolValue {
                out.append(name)
            }
        }
        return out.sorted()
    }
}

/// The routes over real local stores with a fake authenticator.
final class Harness {
    let scratch = Scratch()
    let local: LocalStore
    let router = Router()
    let context: APIContext
    let clock: Clock

    final class Clock: @unchecked Sendable {
        private let lock = NSLock()
        private var value = Date(timeIntervalSince1970: 1_795_000_000)
        var now: Date { lock.lock(); defer { lock.unlock() }; return value }
        func advance(_ seconds: TimeInterval) { lock.lock(); value += seconds; lock.unlock() }
    }

    init(configure: (inout APIOptions) -> Void = { _ in }, storage: ((LocalStore) -> StorageService)? = nil,
         authenticator: FakeAuthenticator = FakeAuthenticator()) {
        local = LocalStore(root: scratch.path + "/uploads")
        var options = APIOptions()
        configure(&options)
        let clock = Clock()
        self.clock = clock
        // By default the service's LOCAL mode without a bucket.
        context = APIContext(options: options, authenticator: authenticator,
                             storage: storage?(local) ?? StorageService(active: local, lockScope: local.root + "|", orphanAge: 300),
                             temporaryDirectory: local.temporaryDirectory, now: { clock.now })
        APIRoutes.register(on: router, context: context)
    }

    @discardableResult
    func send(_ method: String, _ target: String, as user: String? = "auth0|alice", headers: [(String, String)] = [],
              body: [UInt8] = [], server: ServerParameters = [:]) -> Reply {
        var h = Headers(headers)
        if let user { h.set("Authorization", "Bearer \(user)") }
        let request = Request(method: method, target: target, headers: h, body: BufferedBody(body, maxRead: 7000),
                              serverParameters: server)
        return Reply(router.respond(to: request))
    }

    func save(_ fields: [Part], as user: String? = "auth0|alice") -> Reply {
        let (body, type) = Part.encode(fields)
        return send("POST", "/api/v1/save_recording_details", as: user, headers: [("Content-Type", type)], body: body)
    }

    /// Tests stand in for time: stored files get a chosen mtime.
    func setModified(_ key: String, _ date: Date) {
        try! FileManager.default.setAttributes([.modificationDate: date], ofItemAtPath: local.root + "/" + key)
    }
}

/// A response with its body read out.
struct Reply {
    let response: Response
    let body: [UInt8]

    init(_ response: Response) {
        self.response = response
        switch response.body {
        case .empty: body = []
        case .bytes(let b): body = b
        case .file(let path, let offset, let length):
            let handle = FileHandle(forReadingAtPath: path)!
            try! handle.seek(toOffset: UInt64(offset))
            body = Array(try! handle.read(upToCount: Int(length)) ?? Data())
        case .stream(let produce):
            let collector = Collector()
            try! produce(collector)
            body = collector.bytes
        }
    }

    final class Collector: BodyWriter {
        var bytes: [UInt8] = []
        func write(_ chunk: UnsafeRawBufferPointer) throws { bytes.append(contentsOf: chunk) }
    }

    var status: Int { response.status.rawValue }
    var json: JSON { (try? JSON.parse(body)) ?? .null }
    var detail: String { json["detail"]?.stringValue ?? "" }
    var text: String { String(decoding: body, as: UTF8.self) }
    func header(_ name: String) -> String? { response.headers[name] }
}

/// One multipart field.
struct Part {
    var name: String
    var value: [UInt8]
    var filename: String?
    var contentType: String?

    static func text(_ name: String, _ value: String) -> Part { Part(name: name, value: Array(value.utf8)) }
    static func file(_ name: String, _ value: [UInt8], filename: String = "upload.bin", type: String = "application/octet-stream") -> Part {
        Part(name: name, value: value, filename: filename, contentType: type)
    }

    static func encode(_ parts: [Part]) -> ([UInt8], String) {
        let boundary = "----recstore-test-\(UUID().uuidString)"
        var body: [UInt8] = []
        for part in parts {
            var head = "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(part.name)\""
            if let filename = part.filename { head += "; filename=\"\(filename)\"" }
            head += "\r\n"
            if let type = part.contentType { head += "Content-Type: \(type)\r\n" }
            head += "\r\n"
            body += Array(head.utf8) + part.value + Array("\r\n".utf8)
        }
        body += Array("--\(boundary)--\r\n".utf8)
        return (body, "multipart/form-data; boundary=\(boundary)")
    }
}

/// Small valid audio files.
enum Samples {
    /// A PCM WAV of `seconds` at 8 kHz, 8-bit mono (byte rate 8000).
    static func wav(seconds: Double) -> [UInt8] {
        let data = Int(seconds * 8000)
        func le32(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24 & 0xFF)] }
        func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
        var b: [UInt8] = Array("RIFF".utf8) + le32(36 + data) + Array("WAVEfmt ".utf8) + le32(16)
        b += le16(1) + le16(1) + le32(8000) + le32(8000) + le16(1) + le16(8)
        b += Array("data".utf8) + le32(data)
        b += (0..<data).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        return b
    }

    static let ogg: [UInt8] = Array("OggS".utf8) + [0, 2] + [UInt8](repeating: 0x11, count: 100)
    static let webm: [UInt8] = [0x1A, 0x45, 0xDF, 0xA3] + [UInt8](repeating: 0x42, count: 100)
}
