#if canImport(Glibc)
import Glibc
#endif

/// One process's resource use, read from /proc (only when a scrape or the status
/// page asks; never on the request path).
public struct ProcessStats: Sendable {
    public var residentBytes: Double = 0
    public var cpuSeconds: Double = 0
    public var openFDs: Int = 0

    /// Nil when the process is gone (or not ours to read).
    public static func of(pid: pid_t) -> ProcessStats? {
        guard let stat = readSmallFile("/proc/\(pid)/stat") else { return nil }
        // The command name is in parentheses and may hold spaces: fields start after the last ")".
        guard let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
        // fields[0] is field 3 (state): utime is field 14, stime 15, rss 24.
        guard fields.count > 21 else { return nil }
        func number(_ i: Int) -> Double { Double(String(decoding: fields[i], as: UTF8.self)) ?? 0 }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var stats = ProcessStats()
        stats.cpuSeconds = (number(11) + number(12)) / ticks
        stats.residentBytes = number(21) * Double(sysconf(Int32(_SC_PAGESIZE)))
        stats.openFDs = countEntries("/proc/\(pid)/fd")
        return stats
    }

    static func readSmallFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        var length = 0
        while length < buffer.count {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + length, $0.count - length) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            length += n
        }
        return Array(buffer[..<length])
    }

    static func countEntries(_ path: String) -> Int {
        guard let dir = opendir(path) else { return 0 }
        defer { closedir(dir) }
        var count = 0
        while let entry = readdir(dir) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { $0[0] == UInt8(ascii: ".") }
            if !isDot { count += 1 }
        }
        return count
    }
}
