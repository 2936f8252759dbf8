import Foundation
import Storage
import Synchronization

/// Each listed recording, already serialized, per stored version of its metadata
/// (store, key, ETag). `session_metadata.json` is never rewritten (409 rule), so a
/// steady-state listing is a list call, a sort and a concatenation: no metadata
/// reads, no JSON building. Bounded; when full it starts over.
final class ListingCache: Sendable {
    struct Entry: Sendable {
        let date: Date
        let sessionID: String
        let json: [UInt8]
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let capacity: Int

    /// The last listing of a user, as computed from exactly `objects` (what the
    /// stores listed): while a new list call answers the same objects, the sorted
    /// entries and the body are reused instead of rebuilt (bench/results.md).
    struct Snapshot: Sendable {
        let objects: [StoredObject]
        /// Newest first, each with its metadata's lastModified for the retention cut.
        let sorted: [(lastModified: Date, entry: Entry)]
        /// The retention cut it was computed with: later cuts only remove more (a
        /// clock set back makes it unusable).
        let cut: Date
        /// The oldest lastModified among them: while it is inside the retention
        /// window, nothing is cut and `body` is the whole answer.
        let oldest: Date
        let body: [UInt8]
    }

    private let snapshots = Mutex<[String: Snapshot]>([:])
    let snapshotCapacity: Int

    init(capacity: Int = 50_000, snapshotCapacity: Int = 256) {
        self.capacity = capacity
        self.snapshotCapacity = max(1, snapshotCapacity)
    }

    /// The user's snapshot when it was computed from the same objects.
    func snapshot(_ user: String, for objects: [StoredObject]) -> Snapshot? {
        guard let snapshot = snapshots.withLock({ $0[user] }), snapshot.objects.count == objects.count else { return nil }
        // Compared in place through pointers: zip (or a subscript) copied each
        // StoredObject out and destroyed it again, ~76,000 instructions per 200-session
        // listing (bench/results.md). Same test as `store`, `kind` and `info` equal.
        let same = snapshot.objects.withUnsafeBufferPointer { old in
            objects.withUnsafeBufferPointer { new in
                guard var a = old.baseAddress, var b = new.baseAddress else { return true }
                for _ in 0..<old.count {
                    // Field by field through the pointers: the plain fields first, then the
                    // strings (which are one storage in the common case: the same answer).
                    guard a.pointee.store == b.pointee.store, a.pointee.kind == b.pointee.kind,
                          a.pointee.info.size == b.pointee.info.size,
                          a.pointee.info.lastModified == b.pointee.info.lastModified,
                          a.pointee.info.etag == b.pointee.info.etag, a.pointee.info.key == b.pointee.info.key
                    else { return false }
                    a += 1
                    b += 1
                }
                return true
            }
        }
        return same ? snapshot : nil
    }

    func keep(_ user: String, _ snapshot: Snapshot) {
        snapshots.withLock { table in
            if table.count >= snapshotCapacity, table[user] == nil { table.removeAll(keepingCapacity: true) }
            table[user] = snapshot
        }
    }

    func get(_ key: String) -> Entry? { entries.withLock { $0[key] } }

    func put(_ key: String, _ entry: Entry) {
        entries.withLock { table in
            if table.count >= capacity { table.removeAll(keepingCapacity: true) }
            table[key] = entry
        }
    }
}
