import Foundation
import Synchronization

/// A clock tests move by hand.
final class TestClock: Sendable {
    private let seconds: Mutex<Double>

    init(_ start: Double = Date().timeIntervalSince1970.rounded(.down)) { seconds = Mutex(start) }

    var now: Double { seconds.withLock { $0 } }
    func advance(_ by: Double) { seconds.withLock { $0 += by } }

    var function: @Sendable () -> Double { { self.now } }
}
