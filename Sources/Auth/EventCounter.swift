import Synchronization

/// A count shared between threads.
public final class EventCounter: Sendable {
    private let count = Atomic<Int>(0)
    public init() {}
    public func increment() { count.add(1, ordering: .relaxed) }
    public var value: Int { count.load(ordering: .relaxed) }
}
