import Foundation

/// `recstore <command> [options]`. Commands without a summary are internal.
struct Command: Sendable {
    let name: String
    let summary: String?
    let run: @Sendable ([String]) -> Int32

    static let all: [Command] = [
        Command(name: "serve", summary: "run the FastCGI responder (a supervisor and its worker processes)", run: ServeCommand.run),
        Command(name: "token", summary: "print a dev issuer token (--sub NAME [--ttl SECONDS] [--dir DIR])", run: runTokenCommand),
        Command(name: "dev-issuer", summary: "make or keep the local dev issuer and print its AUTH0_* settings", run: runDevIssuerCommand),
        Command(name: "check", summary: "check the configuration end to end: credentials, bucket, a probe object, the JWKS", run: runCheckCommand),
        Command(name: "sync", summary: "move local recordings and settings into the bucket, verified ([--dry-run])", run: runSyncCommand),
        Command(name: "prune", summary: "delete recordings whose metadata is older than DAYS, both stores (--older-than DAYS [--dry-run])", run: runPruneCommand),
        Command(name: "worker", summary: nil, run: WorkerCommand.run),
    ]

    static func usage() -> String {
        let width = all.map(\.name.count).max() ?? 0
        let lines = all.compactMap { c in c.summary.map { "  " + c.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0 } }
        return "usage: recstore <command> [options]\n\ncommands:\n" + lines.joined(separator: "\n") + "\n"
    }
}

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "--version" || arguments.first == "version" {
    print(BuildInfo.versionLine)
    exit(0)
}
guard let name = arguments.first, !["-h", "--help", "help"].contains(name) else {
    if arguments.isEmpty {
        printError(Command.usage())
        exit(2)
    }
    print(Command.usage(), terminator: "")
    exit(0)
}
guard let command = Command.all.first(where: { $0.name == name }) else {
    printError("recstore: unknown command \"\(name)\"\n" + Command.usage())
    exit(2)
}
exit(command.run(Array(arguments.dropFirst())))
