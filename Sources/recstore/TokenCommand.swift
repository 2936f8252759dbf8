import ArgumentParser
import Auth
import Foundation
import DevIssuer

/// `recstore token`: the command line.
struct Token: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print an access token signed by the local dev issuer.",
        discussion: "The issuer is made by `recstore dev-issuer` (and by `make run` when no AUTH0_* is set).")

    @Option(help: ArgumentHelp("The token's subject (the caller's user_id).", valueName: "name"))
    var sub: String

    @Option(help: ArgumentHelp("Lifetime in seconds (1...31536000).", valueName: "seconds"))
    var ttl = 3600

    @Option(help: ArgumentHelp("The dev issuer's directory (default: ${RUN_DIR:-./.run}/dev-issuer).", valueName: "dir"))
    var dir: String?

    func validate() throws {
        guard !sub.isEmpty else { throw ValidationError("--sub must not be empty") }
        guard (1...31_536_000).contains(ttl) else {
            throw ValidationError("--ttl must be a number of seconds (1 to 31536000), got \(ttl)")
        }
    }

    func run() throws {
        try exiting(with: runTokenCommand(subject: sub, lifetime: ttl, directory: dir ?? DevIssuer.defaultDirectory()))
    }
}

/// Prints an RS256 access token from the local dev issuer in `directory`.
func runTokenCommand(subject: String, lifetime: Int, directory: String) -> Int32 {
    do {
        let issuer = try DevIssuer.load(directory: directory)
        writeOut(try issuer.token(subject: subject, lifetime: lifetime) + "\n")
        return 0
    } catch {
        writeError("recstore token: \(error)\n")
        return 1
    }
}

private func writeOut(_ text: String) { FileHandle.standardOutput.write(Data(text.utf8)) }
private func writeError(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
