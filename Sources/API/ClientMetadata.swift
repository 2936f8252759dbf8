import HTTP
import JSON

/// The `metadata` part of a save: a JSON object whose known keys have their
/// types (`name`, `notes` strings, `duration` a number, `tags` strings) and whose
/// other keys are kept as given. `null` for a known key means "not given".
struct ClientMetadata {
    var name: String?
    var duration: JSON?
    var tags: [JSON] = []
    var notes: String?
    /// Every other key, in the client's order.
    var extra: [(String, JSON)] = []

    init() {}

    init(part bytes: [UInt8]) throws {
        let parsed: JSON
        do {
            parsed = try JSON.parse(bytes)
        } catch {
            throw HTTPError.unprocessable("metadata is not valid JSON (\(error)).")
        }
        guard case .object(let object) = parsed else {
            throw HTTPError.unprocessable("metadata must be a JSON object.")
        }
        for (key, value) in object {
            if value.isNull && ["name", "duration", "tags", "notes"].contains(key) { continue }
            switch key {
            case "name":
                guard let s = value.stringValue else { throw HTTPError.unprocessable("metadata.name must be a string.") }
                name = s
            case "notes":
                guard let s = value.stringValue else { throw HTTPError.unprocessable("metadata.notes must be a string.") }
                notes = s
            case "duration":
                guard case .number(let text) = value, let seconds = Double(text), seconds.isFinite else {
                    throw HTTPError.unprocessable("metadata.duration must be a number of seconds.")
                }
                duration = value
            case "tags":
                guard case .array(let items) = value, items.allSatisfy({ $0.stringValue != nil }) else {
                    throw HTTPError.unprocessable("metadata.tags must be an array of strings.")
                }
                tags = items
            default:
                extra.append((key, value))
            }
        }
    }
}
