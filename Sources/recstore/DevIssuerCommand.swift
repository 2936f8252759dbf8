import ArgumentParser
import Auth
import Foundation
import DevIssuer

/// `recstore dev-issuer`: the command line.
struct DevIssuerSubcommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev-issuer",
        abstract: "Make (or keep) the local dev issuer and print its AUTH0_* settings.",
        discussion: "Prints shell-safe NAME=value lines: set -a; eval \"$(recstore dev-issuer)\"; set +a")

    @Option(help: ArgumentHelp("The dev issuer's directory (default: ${RUN_DIR:-./.run}/dev-issuer).", valueName: "dir"))
    var dir: String?

    func validate() throws {
        if dir?.isEmpty == true { throw ValidationError("--dir must not be empty") }
    }

    func run() throws {
        try exiting(with: runDevIssuerCommand(directory: dir ?? DevIssuer.defaultDirectory()))
    }
}

/// Makes (or keeps) the local dev issuer's key and JWKS in `directory`, and prints
/// the service's configuration for it as shell-safe `NAME=value` lines
/// (`set -a; eval "$(recstore dev-issuer)"; set +a`).
func runDevIssuerCommand(directory: String) -> Int32 {
    do {
        let issuer = try DevIssuer.prepare(directory: directory)
        writeOut(issuer.environment.map { "\($0.name)=\(shellQuoted($0.value))\n" }.joined())
        return 0
    } catch {
        writeError("recstore dev-issuer: \(error)\n")
        return 1
    }
}

/// As is when only safe characters occur (so `export $(...)` works too), else
/// single-quoted.
private func shellQuoted(_ value: String) -> String {
    let safe = value.unicodeScalars.allSatisfy {
        ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "_./:@%+,=-".unicodeScalars.contains($0)
    }
    if safe && !value.isEmpty { return value }
    return "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

private func writeOut(_ text: String) { FileHandle.standardOutput.write(Data(text.utf8)) }
private func writeError(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
