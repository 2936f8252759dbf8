import Auth
import Foundation
import DevIssuer

/// `recstore token --sub NAME [--ttl SECONDS] [--dir DIR]`: prints an RS256 access
/// token from the local dev issuer (`${RUN_DIR:-./.run}/dev-issuer` by default).
func runTokenCommand(_ args: [String]) -> Int32 {
    let usage = "usage: recstore token --sub NAME [--ttl SECONDS] [--dir DIR]\n"
    var subject: String?
    var lifetime = 3600
    var directory = DevIssuer.defaultDirectory()
    if args.contains("--help") || args.contains("-h") {
        writeOut(usage)
        return 0
    }
    var rest = args[...]
    while let option = rest.popFirst() {
        guard let value = rest.popFirst() else {
            writeError("recstore token: \(option) needs a value\n" + usage)
            return 2
        }
        switch option {
        case "--sub": subject = value
        case "--ttl":
            guard let seconds = Int(value), (1...31_536_000).contains(seconds) else {
                writeError("recstore token: --ttl must be a number of seconds (1 to 31536000), got \"\(value)\"\n")
                return 2
            }
            lifetime = seconds
        case "--dir": directory = value
        default:
            writeError("recstore token: unknown option \(option)\n" + usage)
            return 2
        }
    }
    guard let subject, !subject.isEmpty else {
        writeError("recstore token: --sub is required\n" + usage)
        return 2
    }
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
