#if canImport(Glibc)
import Glibc
#endif
import CProcess

/// The host's counters in memory shared by the supervisor and its workers.
///
/// The supervisor creates the region (a memfd) before it spawns anyone and hands
/// it to every worker as an inherited descriptor. The region is a header (host
/// values the supervisor keeps) and one block per process slot. A worker writes
/// only its own slot, with relaxed atomic adds: no lock and no syscall on the
/// request path. A scrape adds every slot up. Slots outlive their processes: a
/// replacement worker takes a free slot and keeps adding to what the slot
/// already holds, so host totals never go down when a worker dies.
public final class HostMetrics: @unchecked Sendable {
    // Header words.
    enum Header: Int {
        case magic, slotCount, startTime, supervisorPid, workerRestarts, workersConfigured, threadsPerWorker,
             busyNow, busyMax, exitedCPUMicros, exitedCount
        static let words = 16
    }
    // Slot words, then the counters (cumulative, never reset).
    enum SlotWord: Int {
        case pid, state, startTime, requests, busy
        static let words = 8
    }
    public enum SlotState: UInt64, Sendable { case free = 0, running = 1, retiring = 2 }

    // Counter offsets inside a slot, after the slot words.
    enum Counter {
        static let uploadBytes = 0
        static let storageFallbacks = 1
        static let tokenCacheHits = 2
        static let tokenCacheMisses = 3
        static let slowRequests = 4
        static let accepted = 5
        static let jwks = 8                                    // × JWKSOutcome
        static let s3Requests = 16                             // × operations × outcomes
        static let s3Retries = s3Requests + MetricCatalog.s3Operations.count * MetricCatalog.S3Outcome.allCases.count
        static let http = s3Retries + MetricCatalog.s3Operations.count   // routes × methods × statuses
        static let httpCount = MetricCatalog.routeCapacity * MetricCatalog.methods.count * MetricCatalog.statusSlots
        /// Per route × method: one word per bucket, one past the last bucket (+Inf), the sum in microseconds.
        static let histogramStride = MetricCatalog.durationBuckets.count + 2
        static let histogram = http + httpCount
        static let end = histogram + MetricCatalog.routeCapacity * MetricCatalog.methods.count * histogramStride
    }
    static let slotWords = SlotWord.words + Counter.end
    static let magic: UInt64 = 0x7265_6373_746f_7201  // "recstor" + layout version

    let base: UnsafeMutablePointer<UInt64>
    public let slotCount: Int
    let byteCount: Int
    /// The memfd backing the region (the supervisor passes it on to workers).
    public let fd: Int32

    private init(fd: Int32, base: UnsafeMutablePointer<UInt64>, slotCount: Int, byteCount: Int) {
        self.fd = fd
        self.base = base
        self.slotCount = slotCount
        self.byteCount = byteCount
    }

    public struct SetupError: Error, CustomStringConvertible { public let description: String }

    /// The supervisor's side: a fresh zeroed region with room for `slots` processes.
    public static func create(slots: Int) throws(SetupError) -> HostMetrics {
        let fd = rs_memfd_create("recstore-metrics")
        guard fd >= 0 else { throw SetupError(description: "memfd_create: \(String(cString: strerror(errno)))") }
        let bytes = (Header.words + slots * slotWords) * 8
        guard ftruncate(fd, off_t(bytes)) == 0 else {
            let text = String(cString: strerror(errno))
            close(fd)
            throw SetupError(description: "ftruncate: \(text)")
        }
        let metrics = try map(fd: fd, bytes: bytes, slots: slots)
        metrics.store(.slotCount, UInt64(slots))
        metrics.store(.magic, magic)
        return metrics
    }

    /// A worker's side: the region the supervisor passed on `fd`.
    public static func attach(fd: Int32) throws(SetupError) -> HostMetrics {
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_size >= Header.words * 8 else {
            throw SetupError(description: "fd \(fd) is not a metrics region")
        }
        let bytes = Int(info.st_size)
        let slots = (bytes / 8 - Header.words) / slotWords
        let metrics = try map(fd: fd, bytes: bytes, slots: slots)
        guard metrics.load(.magic) == magic, Int(metrics.load(.slotCount)) == slots else {
            throw SetupError(description: "fd \(fd) holds a metrics region of another layout")
        }
        return metrics
    }

    private static func map(fd: Int32, bytes: Int, slots: Int) throws(SetupError) -> HostMetrics {
        guard let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), raw != MAP_FAILED else {
            throw SetupError(description: "mmap: \(String(cString: strerror(errno)))")
        }
        return HostMetrics(fd: fd, base: raw.bindMemory(to: UInt64.self, capacity: bytes / 8),
                           slotCount: slots, byteCount: bytes)
    }

    // MARK: words

    func load(_ h: Header) -> UInt64 { rs_atomic_load(base + h.rawValue) }
    func store(_ h: Header, _ v: UInt64) { rs_atomic_store(base + h.rawValue, v) }
    func add(_ h: Header, _ v: UInt64) { rs_atomic_add(base + h.rawValue, v) }

    @inline(__always) func slotBase(_ slot: Int) -> UnsafeMutablePointer<UInt64> {
        base + Header.words + slot * Self.slotWords
    }
    @inline(__always) func counters(_ slot: Int) -> UnsafeMutablePointer<UInt64> { slotBase(slot) + SlotWord.words }
    func load(slot: Int, _ w: SlotWord) -> UInt64 { rs_atomic_load(slotBase(slot) + w.rawValue) }
    func store(slot: Int, _ w: SlotWord, _ v: UInt64) { rs_atomic_store(slotBase(slot) + w.rawValue, v) }

    /// The sum over every slot of one counter.
    func total(_ counter: Int) -> UInt64 {
        var sum: UInt64 = 0
        for slot in 0..<slotCount { sum &+= rs_atomic_load(counters(slot) + counter) }
        return sum
    }

    /// Every counter summed over the slots, in one pass.
    func totals() -> [UInt64] {
        var sums = [UInt64](repeating: 0, count: Counter.end)
        sums.withUnsafeMutableBufferPointer { out in
            for slot in 0..<slotCount {
                let c = counters(slot)
                for i in 0..<Counter.end { out[i] &+= rs_atomic_load(c + i) }
            }
        }
        return sums
    }

    // MARK: the supervisor's side

    public func setHost(startTime: Double, supervisorPid: pid_t, workers: Int, threadsPerWorker: Int) {
        store(.startTime, startTime.bitPattern)
        store(.supervisorPid, UInt64(supervisorPid))
        store(.workersConfigured, UInt64(workers))
        store(.threadsPerWorker, UInt64(threadsPerWorker))
    }

    /// A slot no live process uses, or nil when every one is taken.
    public func freeSlot() -> Int? {
        (0..<slotCount).first { load(slot: $0, .state) == SlotState.free.rawValue }
    }

    /// Before spawning into `slot`: the previous process's gauges go; its counters stay.
    public func prepare(slot: Int, startTime: Double) {
        store(slot: slot, .busy, 0)
        store(slot: slot, .requests, 0)
        store(slot: slot, .pid, 0)
        store(slot: slot, .startTime, startTime.bitPattern)
        store(slot: slot, .state, SlotState.running.rawValue)
    }

    public func started(slot: Int, pid: pid_t) { store(slot: slot, .pid, UInt64(pid)) }

    public func retire(slot: Int) { store(slot: slot, .state, SlotState.retiring.rawValue) }

    /// The process in `slot` exited after using `cpuSeconds`: its CPU time moves to the
    /// host's total of exited processes, and the threads it left busy are no longer busy.
    public func exited(slot: Int, cpuSeconds: Double) {
        add(.exitedCPUMicros, UInt64(max(0, cpuSeconds) * 1e6))
        add(.exitedCount, 1)
        let busy = load(slot: slot, .busy)
        if busy > 0 { rs_atomic_sub(base + Header.busyNow.rawValue, busy) }
        store(slot: slot, .busy, 0)
        store(slot: slot, .pid, 0)
        store(slot: slot, .state, SlotState.free.rawValue)
    }

    public func workerRestarted() { add(.workerRestarts, 1) }

    // MARK: reading

    public struct Slot: Sendable {
        public let index: Int
        public let pid: pid_t
        public let state: SlotState
        public let startTime: Double
        public let requests: UInt64
        public let busy: UInt64
    }

    /// Slots with a live process.
    public func liveSlots() -> [Slot] {
        (0..<slotCount).compactMap { i in
            let state = SlotState(rawValue: load(slot: i, .state)) ?? .free
            let pid = pid_t(truncatingIfNeeded: load(slot: i, .pid))
            guard state != .free, pid > 0 else { return nil }
            return Slot(index: i, pid: pid, state: state, startTime: Double(bitPattern: load(slot: i, .startTime)),
                        requests: load(slot: i, .requests), busy: load(slot: i, .busy))
        }
    }

    public var hostStartTime: Double { Double(bitPattern: load(.startTime)) }
    public var supervisorPid: pid_t { pid_t(truncatingIfNeeded: load(.supervisorPid)) }
    public var workersConfigured: Int { Int(load(.workersConfigured)) }
    public var threadsPerWorker: Int { Int(load(.threadsPerWorker)) }
    public var workerRestarts: UInt64 { load(.workerRestarts) }
    public var busyNow: UInt64 { load(.busyNow) }
    public var busyMax: UInt64 { load(.busyMax) }
    public var exitedCPUSeconds: Double { Double(load(.exitedCPUMicros)) / 1e6 }
}
