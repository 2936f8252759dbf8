import Foundation

// Temporary dispatch for the auth branch's commands; the owner of main.swift wires the rest.
let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case "token": exit(runTokenCommand(Array(arguments.dropFirst())))
case "dev-issuer": exit(runDevIssuerCommand(Array(arguments.dropFirst())))
case "check": exit(runCheckCommand(Array(arguments.dropFirst())))
case "sync": exit(runSyncCommand(Array(arguments.dropFirst())))
default:
    FileHandle.standardError.write("recstore: not yet wired\n".data(using: .utf8)!)
    exit(2)
}
