import Diagnostics
import Foundation

/// A store that can remove leftovers of its own kind besides objects: stale
/// temporary files (local), incomplete multipart uploads (S3).
public protocol LeftoverCleaning {
    /// Removes what a crashed or cut-off write left behind that is older than
    /// `age` seconds; returns how many things were removed.
    func removeStaleLeftovers(olderThan age: Double, now: Date) throws -> Int
}

/// Removes what saves that died left behind, in every store: recordings whose
/// objects have no commit (metadata) and are all older than `orphanAge`, and each
/// store's own leftovers (`LeftoverCleaning`). Bounded: at most `maxGroups`
/// recordings and `seconds` of work per run; the next run goes on.
///
/// Between a group's listing and its removal a save may replace it: each object is
/// looked at again right before it goes, and only removed if it is still the same.
public struct LeftoverSweep {
    public struct Summary: Sendable, Equatable {
        public var groups = 0
        public var objects = 0
        public var storeLeftovers = 0
        public var failures: [String] = []
    }

    public let storage: StorageService
    public let prefix: String
    public let commitName: String
    public var maxGroups = 1000
    public var seconds = 60.0

    public init(storage: StorageService, prefix: String, commitName: String) {
        self.storage = storage
        self.prefix = prefix
        self.commitName = commitName
    }

    public func run(now: Date = Date()) -> Summary {
        var summary = Summary()
        Deadline.replacing(Deadline(secondsFromNow: seconds)) {
            for store in storage.stores {
                do {
                    try sweep(store, now: now, into: &summary)
                } catch {
                    summary.failures.append("\(store.kind.rawValue): \(error)")
                }
            }
        }
        if summary.groups + summary.storeLeftovers > 0 || !summary.failures.isEmpty {
            Log.info("sweep", ["recordings_removed": summary.groups, "objects_removed": summary.objects,
                               "store_leftovers_removed": summary.storeLeftovers, "failures": summary.failures.count,
                               "error": summary.failures.first ?? ""])
        }
        return summary
    }

    func sweep(_ store: any ObjectStore, now: Date, into summary: inout Summary) throws {
        if let cleaning = store as? any LeftoverCleaning {
            summary.storeLeftovers += try cleaning.removeStaleLeftovers(olderThan: storage.orphanAge, now: now)
        }
        var groups: [String: [ObjectInfo]] = [:]
        for object in try store.list(prefix: prefix) {
            guard let group = Self.group(of: object.key, under: prefix) else { continue }
            groups[group, default: []].append(object)
        }
        for (group, objects) in groups.sorted(by: { $0.key < $1.key }) {
            guard summary.groups < maxGroups else { return }
            guard StorageService.leftovers(objects, commitName: commitName, olderThan: storage.orphanAge, now: now) else { continue }
            // Never under a save of this prefix running on this host (a staged audio
            // file keeps the time its upload began, so it can look old while committed).
            guard let turn = HostLock(name: StorageService.saveLockName(scope: storage.lockScope, prefix: group)) else { continue }
            defer { withExtendedLifetime(turn) {} }
            var removed = 0
            for object in objects {
                // Still the very object listed (a new save would have a new ETag)?
                guard let current = try store.head(key: object.key), current.etag == object.etag,
                      try store.head(key: group + commitName) == nil else { continue }
                removed += try store.delete(prefix: object.key)
            }
            if removed > 0 {
                summary.groups += 1
                summary.objects += removed
                Log.warning("removed the leftovers of an unfinished save", ["store": store.kind.rawValue, "prefix": group, "objects": removed])
            }
        }
    }

    /// `prefix` + the next two segments + "/" (`user_recordings/{user}/{session}/`),
    /// or nil for a key not that deep.
    static func group(of key: String, under prefix: String) -> String? {
        guard key.hasPrefix(prefix) else { return nil }
        let rest = key.dropFirst(prefix.count).split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
        guard rest.count == 3, !rest[0].isEmpty, !rest[1].isEmpty else { return nil }
        return prefix + rest[0] + "/" + rest[1] + "/"
    }
}
