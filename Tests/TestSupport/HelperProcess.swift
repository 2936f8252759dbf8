import Foundation

/// A Python helper from Tests/integration (a loopback server the Swift tests talk
/// to): started with arguments, it prints one line once it is ready, and it
/// stops when its standard input closes.
public final class HelperProcess: @unchecked Sendable {
    /// The line the helper printed when it was ready.
    public let readyLine: Data
    private let process = Process()
    private let input = Pipe()

    public init(script: String, arguments: [String] = []) throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("integration/\(script)").path
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", path] + arguments
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        var line = Data()
        while true {
            let byte = output.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty || byte == Data([0x0A]) { break }
            line += byte
        }
        readyLine = line
    }

    public func stop() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    public func terminate() {
        process.terminate()
        process.waitUntilExit()
    }
}

/// Tests/integration/scripted_http_server.py, running until `stop()`.
public final class ScriptedServer: @unchecked Sendable {
    public let port: Int
    private let helper: HelperProcess

    public init() throws {
        helper = try HelperProcess(script: "scripted_http_server.py")
        guard let port = Int(String(decoding: helper.readyLine, as: UTF8.self)) else {
            helper.terminate()
            throw CocoaError(.fileReadCorruptFile)
        }
        self.port = port
    }

    public var base: String { "http://127.0.0.1:\(port)" }

    public func stop() { helper.stop() }
}
