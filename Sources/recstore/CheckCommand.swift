import ArgumentParser
import RecstoreConfiguration
import Diagnostics
import Foundation
import Operations

/// `recstore check`: the command line.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the configuration end to end: local storage, AWS credentials, the bucket, a probe object, the JWKS.",
        discussion: "One line per check; exit status 1 when any failed. Reads the environment and .env like the service.")

    @Flag(name: .customLong("suggest-lifecycle"),
          help: "Print the S3 lifecycle rules that enforce retention in the bucket (JSON on stdout) instead of checking.")
    var suggestLifecycle = false

    @Option(help: ArgumentHelp("With --suggest-lifecycle: days until recordings expire (default PRUNE_OLDER_THAN_DAYS, else RETENTION_DAYS).",
                               valueName: "N"))
    var days: Int?

    func validate() throws {
        if days != nil && !suggestLifecycle { throw ValidationError("--days goes with --suggest-lifecycle") }
    }

    func run() throws {
        if suggestLifecycle { return try exiting(with: LifecycleSuggestion.run(days: days)) }
        try exiting(with: runCheckCommand())
    }
}

/// `recstore check`: the configuration end to end, one line per check —
/// `name: ok (detail)`, `name: FAILED: reason` or `name: skipped (why)` — and a
/// non-zero exit status when anything failed. Reads the environment and `.env`
/// like the service does.
func runCheckCommand() -> Int32 {
    // The reasons are printed here in plain words; the store's own warnings would repeat them.
    Log.minimumLevel = .error
    var check = ConfigurationCheck { writeOut($0 + "\n") }
    check.run(environment: DotEnv.environment())
    writeOut(check.failures == 0 ? "recstore check: everything works\n"
                                 : "recstore check: \(check.failures) check\(check.failures == 1 ? "" : "s") failed\n")
    return check.failures == 0 ? 0 : 1
}

private func writeOut(_ text: String) { FileHandle.standardOutput.write(Data(text.utf8)) }
private func writeError(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
