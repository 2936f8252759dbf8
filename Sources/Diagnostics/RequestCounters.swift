#if canImport(Glibc)
import Glibc
#endif
import POSIX

/// Per-thread tallies of the work one request caused (e.g. `upstream_requests`),
/// added by the layers that do the work and written into the request's access-log
/// line by the transport. A request runs on one thread, so a thread-local is
/// enough; work handed to helper threads (multipart parts) is not counted.
public enum RequestCounters {
    final class Tally {
        var counts: [(name: String, value: Int)] = []
    }

    private static let perThread = ThreadLocal { Tally() }
    private static var tally: Tally { perThread.value }

    public static func add(_ name: String, _ amount: Int = 1) {
        let t = tally
        if let i = t.counts.firstIndex(where: { $0.name == name }) {
            t.counts[i].value += amount
        } else {
            t.counts.append((name, amount))
        }
    }

    /// The tallies since the last call, sorted by name; resets them.
    public static func take() -> [(String, Int)] {
        guard let t = perThread.existing else { return [] }
        guard !t.counts.isEmpty else { return [] }
        defer { t.counts.removeAll(keepingCapacity: true) }
        return t.counts.sorted { $0.name < $1.name }.map { ($0.name, $0.value) }
    }
}
