import API
import ArgumentParser
import RecstoreConfiguration
import Diagnostics
import Foundation
import Operations
import S3
import Storage

/// `recstore sync`: the command line.
struct Sync: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move local recordings and settings into the bucket, verified.",
        discussion: """
            Moves what LOCAL_STORAGE_DIR holds (S3 fallbacks, or everything after switching from \
            LOCAL to S3) into the bucket, verifying each object before its local copy is deleted. \
            Safe to interrupt and to run again, also while the service runs. Exit status: 0 when \
            nothing was left behind but unfinished saves, 1 when something could not be moved, \
            2 for a configuration error.
            """)

    @Flag(name: [.customLong("dry-run"), .customShort("n")], help: "Only show what would be moved.")
    var dryRun = false

    func run() throws {
        try exiting(with: runSyncCommand(dryRun: dryRun))
    }
}

/// `recstore sync [--dry-run]`: moves the recordings and settings held in
/// LOCAL_STORAGE_DIR (S3 fallbacks, or everything after switching from LOCAL to S3)
/// into the bucket, verifying each object before its local copy is deleted (see
/// `LocalToBucketSync`). Safe to interrupt and to run again, also while the
/// service runs. Exit status 0 when nothing was left behind but unfinished saves,
/// 1 when something could not be moved (or the bucket does not answer), 2 for a
/// usage or configuration error.
func runSyncCommand(dryRun: Bool) -> Int32 {
    // Every group's outcome is printed; the stores' own warnings would only repeat it.
    Log.minimumLevel = .error
    let config: Configuration
    do {
        config = try Configuration.load(DotEnv.environment(), requireIdentity: false)
    } catch {
        writeError("recstore sync: configuration: \(error)\n")
        return 2
    }
    guard let bucketName = config.storage.bucket else {
        writeError("recstore sync: no bucket configured (set AWS_S3_BUCKET_NAME)\n")
        return 2
    }
    let credentials: CredentialsChain
    do {
        credentials = try CredentialsChain(environment: config.environment)
    } catch {
        writeError("recstore sync: credentials: \(error)\n")
        return 2
    }
    let bucket = Stores.bucket(config, credentials: credentials)!
    let local = LocalStore(root: config.storage.localDirectory)
    // Before touching anything: is the bucket there, and does it take our credentials?
    let keyID: String
    do {
        keyID = try credentials.credentials().accessKeyID
    } catch {
        writeError("recstore sync: \(error); nothing was moved\n")
        return 1
    }
    do {
        try S3Trouble.checkAnswers(bucket)
    } catch {
        let reason = S3Trouble.explain(error, bucket: bucketName, region: config.storage.region, endpoint: config.storage.endpoint, keyID: keyID)
        writeError("recstore sync: the bucket does not answer: \(reason); nothing was moved\n")
        return 1
    }

    writeOut("\(dryRun ? "dry run: " : "")moving \(local.root) into bucket \(bucketName)\n")
    let sync = LocalToBucketSync(local: local, bucket: bucket, dryRun: dryRun) { writeOut($0 + "\n") }
    let summary = sync.run()
    if !dryRun {
        // What saves that died left behind, in both stores (see `LeftoverSweep`).
        let storage = StorageService(active: bucket, others: [local], orphanAge: Double(config.retention.orphanAgeSeconds))
        let swept = Housekeeping.sweep(storage)
        writeOut("swept \(swept.groups) unfinished save\(swept.groups == 1 ? "" : "s") (\(swept.objects) objects) and "
                 + "\(swept.storeLeftovers) stale temporary files or multipart uploads"
                 + (swept.failures.isEmpty ? "" : "; the sweep could not finish: \(swept.failures.joined(separator: "; "))") + "\n")
    }
    var line = "recstore sync: \(summary.moved) \(dryRun ? "to move" : "moved"), "
        + "\(summary.alreadyThere) already in the bucket, \(summary.skipped) skipped, \(summary.failed) failed"
    if let aborted = summary.aborted { line += "; stopped early: \(aborted)" }
    writeOut(line + "\n")
    return summary.succeeded ? 0 : 1
}

private func writeOut(_ text: String) { FileHandle.standardOutput.write(Data(text.utf8)) }
private func writeError(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
