import Foundation
import Synchronization
import XCTest
import POSIX

final class ThreadLocalTests: XCTestCase {
    final class Probe {
        static let alive = Atomic<Int>(0)
        let serial: Int
        init(_ serial: Int) { self.serial = serial; Self.alive.add(1, ordering: .relaxed) }
        deinit { Self.alive.subtract(1, ordering: .relaxed) }
    }

    static let made = Atomic<Int>(0)
    static let probes = ThreadLocal { Probe(ThreadLocalTests.made.add(1, ordering: .relaxed).newValue) }

    /// Runs `body` on a thread of its own and waits until that thread has ended.
    func onNewThread(_ body: @escaping @Sendable () -> Void) {
        let done = DispatchSemaphore(value: 0)
        let thread = Thread { body(); done.signal() }
        thread.start()
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        // The thread's destructors run after its body returns: wait for the release.
        let deadline = Date().addingTimeInterval(10)
        while Probe.alive.load(ordering: .relaxed) > 0 && Date() < deadline { usleep(1000) }
    }

    func testOneObjectPerThreadMadeOnFirstUseAndReleasedWithTheThread() {
        let seen = Mutex<[Int]>([])
        for _ in 0..<2 {
            onNewThread {
                precondition(Self.probes.existing == nil, "a new thread starts without one")
                let first = Self.probes.value
                precondition(Self.probes.value === first && Self.probes.existing === first, "the same object on the same thread")
                seen.withLock { $0.append(first.serial) }
            }
        }
        let serials = seen.withLock { $0 }
        XCTAssertEqual(serials.count, 2)
        XCTAssertNotEqual(serials[0], serials[1], "each thread has its own")
        XCTAssertEqual(Probe.alive.load(ordering: .relaxed), 0, "each released when its thread ended")
    }
}
