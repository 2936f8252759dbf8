import API
import Foundation
import Storage

/// Retention that is enforced, not only a listing filter: every recording whose
/// `session_metadata.json` was last modified before `cutoff` (the date listings go
/// by) is deleted from one store, then the store is asked again to prove it is gone.
/// `recstore prune` runs it once per configured store (local, then the bucket).
public struct RecordingPrune {
    public struct Outcome {
        public var deleted = 0
        public var objects = 0
        public var failed = 0
    }

    public let store: any ObjectStore
    public let cutoff: Date
    public let dryRun: Bool
    /// One line per recording deleted (or to delete) and per failure.
    public let report: (String) -> Void

    public init(store: any ObjectStore, cutoff: Date, dryRun: Bool, report: @escaping (String) -> Void) {
        self.store = store
        self.cutoff = cutoff
        self.dryRun = dryRun
        self.report = report
    }

    /// "user_recordings/{user}/{session}/" for a metadata key of exactly that shape, else nil.
    public static func recordingPrefix(ofMetadataKey key: String) -> String? {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] + "/" == Layout.recordingsArea, parts[3] == Substring(Layout.metadataName),
              !parts[1].isEmpty, !parts[2].isEmpty,
              ![".", ".."].contains(parts[1]), ![".", ".."].contains(parts[2]) else { return nil }
        return Layout.recordingPrefix(String(parts[1]), String(parts[2]))
    }

    public func run() throws -> Outcome {
        var outcome = Outcome()
        let kind = store.kind.rawValue
        let expired = try store.list(prefix: Layout.recordingsArea, fileName: Layout.metadataName)
            .filter { $0.lastModified < cutoff }
        for metadata in expired {
            guard let prefix = Self.recordingPrefix(ofMetadataKey: metadata.key) else { continue }
            let saved = Self.day(metadata.lastModified)
            if dryRun {
                outcome.deleted += 1
                report("would delete \(kind) \(prefix) (metadata of \(saved))")
                continue
            }
            do {
                let count = try store.delete(prefix: prefix)
                // Verified: nothing may be left under the recording's prefix.
                let left = try store.list(prefix: prefix)
                guard left.isEmpty else {
                    outcome.failed += 1
                    report("FAILED \(kind) \(prefix): \(left.count) object(s) still there after deleting")
                    continue
                }
                outcome.deleted += 1
                outcome.objects += count
                report("deleted \(kind) \(prefix) (\(count) object\(count == 1 ? "" : "s"), metadata of \(saved))")
            } catch {
                outcome.failed += 1
                report("FAILED \(kind) \(prefix): \(error)")
            }
        }
        return outcome
    }

    public static func day(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }
}
