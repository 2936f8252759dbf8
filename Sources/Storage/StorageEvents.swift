/// The point where a save goes to the fallback store instead of the active one:
/// one call, so a counter (metrics) hooks in here and nowhere else.
public enum StorageEvents {
    static func fallback() {}
}
