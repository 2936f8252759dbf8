import BuildStamp

/// The version line of `recstore --version`, from the build stamp (Sources/BuildStamp):
/// the package version and commit for a packaged build, "0.0.0+dev" otherwise.
enum BuildInfo {
    static var version: String { String(cString: recstore_build_version()) }
    static var commit: String { String(cString: recstore_build_commit()) }
    static var versionLine: String { "recstore \(version) (commit \(commit))" }
}
