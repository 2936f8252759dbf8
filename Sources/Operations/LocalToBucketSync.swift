import API
import Foundation
import Storage
import Digests

/// Moves what the local store holds into the bucket, one group at a time: a
/// recording (`user_recordings/{user}/{session}/`, its `session_metadata.json`
/// last) or a user's settings. Each object is copied create-only, then read back
/// from the bucket and compared (size and SHA-256) with the local one; only when
/// the whole group is proven there is the local copy deleted, metadata first, so
/// a half-removed recording is never listed.
///
/// Interrupting it at any point loses nothing, and running it again picks up
/// where it stopped: an object already in the bucket is verified, not copied
/// again, and a group already complete there just has its local copy removed.
/// An object the bucket holds with different content is a conflict: the group is
/// left in place and reported, never overwritten.
public struct LocalToBucketSync {
    public let local: any ObjectStore
    public let bucket: any ObjectStore
    /// Report what would happen; write and delete nothing.
    public let dryRun: Bool
    /// One line per group.
    public let report: (String) -> Void

    public init(local: any ObjectStore, bucket: any ObjectStore, dryRun: Bool, report: @escaping (String) -> Void) {
        self.local = local
        self.bucket = bucket
        self.dryRun = dryRun
        self.report = report
    }

    public struct Summary {
        public var moved = 0
        public var alreadyThere = 0
        public var skipped = 0
        public var failed = 0
        /// Why the run stopped early (the bucket or the local store became unreachable).
        public var aborted: String?

        public var succeeded: Bool { failed == 0 && aborted == nil }
    }

    /// The bucket could not be reached: every further group would fail the same way.
    struct BucketUnavailable: Error { let reason: String }
    /// This group stays local, for this reason.
    struct GroupFailed: Error { let reason: String }

    public func run() -> Summary {
        var summary = Summary()
        for (area, lastName) in [(Layout.recordingsArea, Layout.metadataName), (Layout.settingsArea, Layout.settingsName)] {
            let groups: [(prefix: String, objects: [ObjectInfo])]
            do {
                groups = Self.groups(in: try local.list(prefix: area), area: area)
            } catch {
                summary.aborted = "cannot list the local store under \(area): \(error)"
                return summary
            }
            for group in groups {
                do {
                    let copied = try move(group.prefix, group.objects, last: group.prefix + lastName)
                    let count = group.objects.count
                    switch (copied > 0, dryRun) {
                    case (true, false): report("moved \(group.prefix) (\(count) objects, \(copied) copied)")
                    case (true, true): report("would move \(group.prefix) (\(count) objects, \(copied) to copy)")
                    case (false, false): report("removed \(group.prefix): already complete in the bucket, local copy deleted")
                    case (false, true): report("would remove \(group.prefix): already complete in the bucket")
                    }
                    if copied > 0 { summary.moved += 1 } else { summary.alreadyThere += 1 }
                } catch let skip as Skipped {
                    summary.skipped += 1
                    report("skipped \(group.prefix): \(skip.reason); left in place")
                } catch let failure as GroupFailed {
                    summary.failed += 1
                    report("FAILED \(group.prefix): \(failure.reason); left in place")
                } catch let down as BucketUnavailable {
                    summary.failed += 1
                    summary.aborted = "the bucket cannot be reached (\(down.reason)); stopped at \(group.prefix), run sync again later"
                    report("FAILED \(group.prefix): the bucket cannot be reached; left in place")
                    return summary
                } catch {
                    summary.failed += 1
                    report("FAILED \(group.prefix): \(error); left in place")
                }
            }
        }
        return summary
    }

    private struct Skipped: Error { let reason: String }

    /// Objects grouped by their first three key segments (`area/{user}/{group}/`
    /// for recordings, `area/{user}/` for settings), in key order.
    public static func groups(in objects: [ObjectInfo], area: String) -> [(prefix: String, objects: [ObjectInfo])] {
        let depth = area == Layout.settingsArea ? 2 : 3
        var order: [String] = []
        var members: [String: [ObjectInfo]] = [:]
        for object in objects {
            let segments = object.key.split(separator: "/", omittingEmptySubsequences: false)
            guard segments.count > depth else { continue }
            let prefix = segments[0..<depth].joined(separator: "/") + "/"
            if members[prefix] == nil { order.append(prefix) }
            members[prefix, default: []].append(object)
        }
        return order.map { ($0, members[$0]!) }
    }

    /// Copies and verifies every object of one group, `last` last, then deletes
    /// the local group. Returns how many objects had to be copied.
    private func move(_ prefix: String, _ objects: [ObjectInfo], last: String) throws -> Int {
        guard objects.contains(where: { $0.key == last }) else {
            // A run killed between deleting the local metadata and the rest leaves
            // objects that the bucket already holds complete: finish that removal.
            if try removeLeftoversOfAFinishedMove(prefix, objects, last: last) { return 0 }
            throw Skipped(reason: "no \(last.dropFirst(prefix.count)) (an unfinished save)")
        }
        let ordered = objects.map(\.key).filter { $0 != last }.sorted() + [last]
        var copied = 0
        var verified: [String: String] = [:]
        for key in ordered {
            let outcome = try copy(key)
            if outcome.copied { copied += 1 }
            verified[key] = outcome.etag
        }
        guard !dryRun else { return copied }
        // Settings can be rewritten while the service runs in LOCAL mode: delete only
        // what is still exactly what was verified.
        do {
            let now = try local.list(prefix: prefix)
            guard now.count == verified.count, now.allSatisfy({ verified[$0.key] == $0.etag }) else {
                throw GroupFailed(reason: "changed locally while it was being copied; run sync again")
            }
            _ = try local.delete(prefix: last)
            _ = try local.delete(prefix: prefix)
        } catch let failure as GroupFailed {
            throw failure
        } catch {
            throw GroupFailed(reason: "copied and verified, but the local copy could not be removed: \(error)")
        }
        return copied
    }

    /// True when the bucket holds the group complete (its `last` object) and every
    /// local object is byte for byte the bucket's: the local objects are what an
    /// interrupted earlier run had not yet deleted, and are deleted now.
    private func removeLeftoversOfAFinishedMove(_ prefix: String, _ objects: [ObjectInfo], last: String) throws -> Bool {
        guard try onBucket({ try bucket.head(key: last) }) != nil else { return false }
        for object in objects {
            let here: ObjectDigest
            do { here = try ObjectDigest.of(object.key, in: local) } catch { return false }
            guard try onBucket({ try bucket.head(key: object.key) }) != nil,
                  try onBucket({ try ObjectDigest.of(object.key, in: bucket) }) == here else { return false }
        }
        guard !dryRun else { return true }
        do {
            _ = try local.delete(prefix: prefix)
        } catch {
            throw GroupFailed(reason: "complete in the bucket, but the local leftovers could not be removed: \(error)")
        }
        return true
    }

    /// Makes sure the bucket holds exactly the local object. `copied` when it had to
    /// be copied (or, in a dry run, would be); `etag` of the local object that was verified.
    private func copy(_ key: String, retried: Bool = false) throws -> (copied: Bool, etag: String) {
        let name = key.split(separator: "/").last.map(String.init) ?? key
        let etag: String
        let original: ObjectDigest
        do {
            // The tag first: if the file is replaced while it is read, the tags differ later.
            guard let info = try local.head(key: key) else { throw StorageError.notFound(key) }
            etag = info.etag
            original = try ObjectDigest.of(key, in: local)
        } catch {
            throw GroupFailed(reason: "cannot read the local \(name): \(error)")
        }
        if try onBucket({ try bucket.head(key: key) }) != nil {
            let there = try onBucket { try ObjectDigest.of(key, in: bucket) }
            guard there == original else {
                throw GroupFailed(reason: "the bucket already holds a different \(name) (\(there); the local one: \(original))")
            }
            return (false, etag)
        }
        if dryRun { return (true, etag) }
        guard let path = local.localPath(key: key) else { throw GroupFailed(reason: "the local store has no file for \(name)") }
        do {
            _ = try onBucket {
                try bucket.put(key: key, file: StagedFile(path: path, size: original.size, sha256: original.sha256),
                               contentType: Self.contentType(of: name), condition: .createOnly)
            }
        } catch StorageError.alreadyExists where !retried {
            // Written by someone else since the check above: verify theirs instead.
            return try copy(key, retried: true)
        }
        let copy = try onBucket { try ObjectDigest.of(key, in: bucket) }
        guard copy == original else {
            _ = try? bucket.delete(prefix: key)
            throw GroupFailed(reason: "the bucket's copy of \(name) does not match (\(copy); the local one: \(original)); removed it")
        }
        return (true, etag)
    }

    /// Runs a bucket call; `.unavailable` stops the whole run, other store errors
    /// fail this group.
    private func onBucket<T>(_ call: () throws -> T) throws -> T {
        do {
            return try call()
        } catch let error as StorageError {
            switch error {
            case .unavailable(let reason): throw BucketUnavailable(reason: reason.reason)
            case .alreadyExists: throw error
            default: throw GroupFailed(reason: "the bucket refused: \(error)")
            }
        }
    }

    public static func contentType(of name: String) -> String {
        if name.hasPrefix("audio."), let format = AudioFormat(rawValue: String(name.dropFirst(6))) { return format.contentType }
        if name.hasSuffix(".json") { return "application/json" }
        if name.hasSuffix(".txt") { return "text/plain; charset=utf-8" }
        return "application/octet-stream"
    }
}
