/// What `recstore --version` prints: the package version and commit for a
/// packaged build (stamped by `make deb`, see `BuildInfo`), "0.0.0+dev" otherwise.
enum RecstoreVersion {
    static var description: String { BuildInfo.versionLine }
}
