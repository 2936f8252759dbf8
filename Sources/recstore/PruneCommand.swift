import ArgumentParser
import RecstoreConfiguration
import Foundation
import Operations
import Storage

/// `recstore prune`: the command line.
struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete recordings whose metadata is older than DAYS days, in the local store and the bucket.",
        discussion: """
            Each deletion is verified and printed, one line per recording. Nothing runs it unless an \
            operator does (recstore-prune.service and .timer, off by default). Exit status: 0 all done, \
            1 something could not be deleted or listed, 2 for a configuration error.
            """)

    @Option(name: .customLong("older-than"), help: ArgumentHelp("Age in days (1...36500) of the recordings to delete.", valueName: "DAYS"))
    var olderThan: Int

    @Flag(name: .customLong("dry-run"), help: "Only show what would be deleted.")
    var dryRun = false

    func validate() throws {
        guard (1...36_500).contains(olderThan) else {
            throw ValidationError("--older-than must be a whole number of days in 1...36500, got \(olderThan)")
        }
    }

    func run() throws {
        try exiting(with: runPruneCommand(days: olderThan, dryRun: dryRun))
    }
}

/// `recstore prune --older-than DAYS [--dry-run]`: deletes every recording whose
/// metadata is older than DAYS days from the local store and, when one is
/// configured, the bucket (see `RecordingPrune`). Each deletion is verified and
/// written to stdout, one line per recording (the journal under systemd).
/// Nothing runs it unless an operator does (recstore-prune.service/.timer).
/// Exit status: 0 all done, 1 something could not be deleted or listed, 2 a
/// configuration error.
func runPruneCommand(days: Int, dryRun: Bool) -> Int32 {
    let config: Configuration
    do {
        config = try Configuration.load(DotEnv.environment(), requireIdentity: false)
    } catch {
        writeError("recstore prune: configuration: \(error)\n")
        return 2
    }
    var stores: [any ObjectStore] = [LocalStore(root: config.storage.localDirectory)]
    do {
        if let bucket = try Stores.bucket(config) { stores.append(bucket) }
    } catch {
        writeError("recstore prune: \(error); nothing was deleted\n")
        return 2
    }
    let cutoff = Date().addingTimeInterval(-Double(days) * 86_400)
    writeOut("\(dryRun ? "dry run: " : "")deleting recordings whose metadata is older than \(RecordingPrune.day(cutoff)) (\(days) days)\n")
    var failed = 0
    var deleted = 0
    for store in stores {
        // stdout is the log: one line per recording, in the journal under systemd.
        let prune = RecordingPrune(store: store, cutoff: cutoff, dryRun: dryRun) { writeOut($0 + "\n") }
        do {
            let outcome = try prune.run()
            deleted += outcome.deleted
            failed += outcome.failed
        } catch {
            failed += 1
            writeError("recstore prune: cannot list the \(store.kind.rawValue) store: \(error)\n")
        }
    }
    writeOut("recstore prune: \(deleted) recording\(deleted == 1 ? "" : "s") \(dryRun ? "to delete" : "deleted"), \(failed) failed\n")
    return failed == 0 ? 0 : 1
}

private func writeOut(_ text: String) { FileHandle.standardOutput.write(Data(text.utf8)) }
private func writeError(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
