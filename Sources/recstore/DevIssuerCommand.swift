import Auth
import Foundation
import DevIssuer

/// `recstore dev-issuer [--dir DIR]`: makes (or keeps) the local dev issuer's key
/// and JWKS, and prints the service's configuration for it as shell-safe
/// `NAME=value` lines (`set -a; eval "$(recstore dev-issuer)"; set +a`).
func runDevIssuerCommand(_ args: [String]) -> Int32 {
    let usage = "usage: recstore dev-issuer [--dir DIR]\n"
    var directory = DevIssuer.defaultDirectory()
    var rest = args[...]
    while let option = rest.popFirst() {
        switch option {
        case "--help", "-h":
            writeOut(usage)
            return 0
        case "--dir":
            guard let value = rest.popFirst(), !value.isEmpty else {
                writeError("recstore dev-issuer: --dir needs a value\n" + usage)
                return 2
            }
            directory = value
        default:
            writeError("recstore dev-issuer: unknown option \(option)\n" + usage)
            return 2
        }
    }
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
