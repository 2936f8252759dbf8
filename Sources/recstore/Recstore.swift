import ArgumentParser

/// `recstore <subcommand> [options]`: the parsing layer only. Each subcommand's
/// work lives in its own file (`ServeCommand.swift`, `TokenCommand.swift`, …) as a
/// function taking the parsed values and returning the exit status; usage errors
/// (unknown options, bad values) are swift-argument-parser's, with exit status 64.
@main
struct Recstore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recstore",
        abstract: "Stores users' voice recordings and settings, as a FastCGI responder behind nginx.",
        discussion: """
            Configuration comes from the environment and from .env in the working directory \
            (see README.md). The HTTP API is described at /api/v1/openapi.json and /docs.
            """,
        version: RecstoreVersion.description,
        subcommands: [Serve.self, Token.self, DevIssuerSubcommand.self, Check.self, Sync.self, Prune.self, Worker.self])
}

/// Runs a subcommand's function and turns a non-zero status into the process's exit status.
func exiting(with status: Int32) throws {
    if status != 0 { throw ExitCode(status) }
}
