/// What `recstore --version` prints.
enum RecstoreVersion {
    static let number = "1.0.0"
    static var description: String { "recstore \(number)" }
}
