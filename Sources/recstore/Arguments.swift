import Foundation

struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A command's options: `--name value`, `--name=value` and bare `--flag`s.
/// Anything else is a usage error, so typos do not pass silently.
struct Arguments {
    private var values: [String: String] = [:]
    private var setFlags: Set<String> = []

    init(_ arguments: [String], options: Set<String>, flags: Set<String> = []) throws(UsageError) {
        var i = 0
        while i < arguments.count {
            let argument = arguments[i]
            i += 1
            guard argument.hasPrefix("--") else { throw UsageError("unexpected argument \"\(argument)\"") }
            var name = String(argument.dropFirst(2))
            var value: String?
            if let eq = name.firstIndex(of: "=") {
                value = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            if flags.contains(name) && value == nil {
                setFlags.insert(name)
                continue
            }
            guard options.contains(name) else { throw UsageError("unknown option --\(name)") }
            if value == nil {
                guard i < arguments.count else { throw UsageError("--\(name) needs a value") }
                value = arguments[i]
                i += 1
            }
            values[name] = value
        }
    }

    func string(_ name: String) -> String? { values[name] }

    func has(_ flag: String) -> Bool { setFlags.contains(flag) }

    func integer(_ name: String, in range: ClosedRange<Int>, default fallback: Int) throws(UsageError) -> Int {
        guard let text = values[name] else { return fallback }
        guard let n = Int(text), range.contains(n) else {
            throw UsageError("--\(name) must be an integer in \(range.lowerBound)...\(range.upperBound), got \"\(text)\"")
        }
        return n
    }

    func seconds(_ name: String, in range: ClosedRange<Double>, default fallback: Double) throws(UsageError) -> Double {
        guard let text = values[name] else { return fallback }
        guard let n = Double(text), range.contains(n) else {
            throw UsageError("--\(name) must be a number of seconds in \(range.lowerBound)...\(range.upperBound), got \"\(text)\"")
        }
        return n
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
}
