import JSON
import Synchronization

/// A small JSON document as read from a store: parsed, or why it could not be.
public enum Document: Sendable, Equatable {
    case json(JSON)
    case corrupt(String)
}

/// Parsed documents by store, key and ETag, shared by a process's request threads.
/// An ETag names one content, so an entry never goes stale: a rewritten object
/// has a new ETag and simply misses. Bounded; the oldest entries go first.
final class DocumentCache: Sendable {
    private struct State {
        var entries: [String: Document] = [:]
        var order: [String] = []
        var head = 0
    }

    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) { self.capacity = max(1, capacity) }

    static func key(store: Int, _ info: ObjectInfo) -> String {
        "\(store)\u{0}\(info.key)\u{0}\(info.etag)"
    }

    func get(_ key: String) -> Document? {
        state.withLock { $0.entries[key] }
    }

    func put(_ key: String, _ document: Document) {
        state.withLock { s in
            guard s.entries.updateValue(document, forKey: key) == nil else { return }
            s.order.append(key)
            while s.entries.count > capacity {
                s.entries[s.order[s.head]] = nil
                s.head += 1
            }
            // Compact the queue once its dead front outweighs the live part.
            if s.head > capacity {
                s.order.removeFirst(s.head)
                s.head = 0
            }
        }
    }

    var count: Int { state.withLock { $0.entries.count } }
}
