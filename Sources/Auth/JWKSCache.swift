import Diagnostics
import Foundation
import Synchronization

/// Seconds since 1970; injectable so tests can move time.
public typealias EpochClock = @Sendable () -> Double

public let systemClock: EpochClock = { Date().timeIntervalSince1970 }

/// The issuer's signing keys, per process. Loaded at start-up, refreshed after
/// `ttl`, and refetched early when a token names an unknown kid, but never more
/// than one fetch at a time nor more often than every `minRefetchInterval`:
/// a flood of made-up kids cannot hammer the issuer. When the issuer is down the
/// keys already loaded keep working (and `staleness` says so).
public final class JWKSCache: Sendable {
    public enum Lookup: Sendable, Equatable {
        case found(SigningKey)
        case unknownKid
        /// No key was ever loaded: the service cannot check any token yet.
        case unavailable(retryAfter: Int)
    }

    private struct State {
        var keys: [String: SigningKey] = [:]
        var loadedAt: Double?
        var lastAttempt: Double?
        /// Why the latest fetch failed; nil once one succeeds.
        var lastError: String?
        var inFlight: FetchInProgress?
    }

    private let state = Mutex(State())
    private let fetchDocument: @Sendable () throws -> [UInt8]
    private let clock: EpochClock
    private let ttl: Double
    private let minRefetchInterval: Double
    private let fetchTimeout: Double
    public let sourceDescription: String
    private let fetches = Atomic<Int>(0)
    private let keySetGeneration = Atomic<Int>(0)

    public init(fetch: @escaping @Sendable () throws -> [UInt8], sourceDescription: String,
                ttl: Double = 600, minRefetchInterval: Double = 30, fetchTimeout: Double = 5,
                clock: @escaping EpochClock = systemClock) {
        self.fetchDocument = fetch
        self.sourceDescription = sourceDescription
        self.ttl = ttl
        self.minRefetchInterval = minRefetchInterval
        self.fetchTimeout = fetchTimeout
        self.clock = clock
    }

    /// How many fetches were started (tests assert the rate limit with it).
    public var fetchCount: Int { fetches.load(ordering: .relaxed) }

    /// Changes when the issuer withdraws or replaces a key, so tokens verified
    /// with it are verified again.
    public var generation: Int { keySetGeneration.load(ordering: .acquiring) }

    public var keyIDs: [String] { state.withLock { Array($0.keys.keys).sorted() } }

    /// The start-up load: fetches now, whatever the rate limit says.
    public func load() {
        let claimed: FetchInProgress? = state.withLock { s in
            s.inFlight == nil ? claim(&s, now: clock()) : nil
        }
        if let claimed { run(claimed) }
    }

    public func key(for kid: String) -> Lookup {
        enum Step: Sendable { case answer(Lookup), fetch(FetchInProgress), wait(FetchInProgress) }
        let now = clock()
        var backgroundRefresh: FetchInProgress?
        let step: Step = state.withLock { s in
            if let key = s.keys[kid] {
                if refreshDue(s, now: now) { backgroundRefresh = claim(&s, now: now) }
                return .answer(.found(key))
            }
            if let pending = s.inFlight { return .wait(pending) }
            if mayFetch(s, now: now) { return .fetch(claim(&s, now: now)) }
            return .answer(refusal(s, now: now))
        }
        if let backgroundRefresh { runInBackground(backgroundRefresh) }
        switch step {
        case .answer(let lookup): return lookup
        case .fetch(let pending): run(pending)
        case .wait(let pending): pending.wait(seconds: fetchTimeout + 1)
        }
        // One fetch per lookup at most: whatever the keys are now is the answer.
        return state.withLock { s in s.keys[kid].map { .found($0) } ?? refusal(s, now: clock()) }
    }

    /// Starts a background refresh when one is due. Requests served from the
    /// verified-token cache call this, so keys age out even when every client
    /// reuses its token.
    public func refreshIfDue() {
        let now = clock()
        let claimed: FetchInProgress? = state.withLock { s in refreshDue(s, now: now) ? claim(&s, now: now) : nil }
        if let claimed { runInBackground(claimed) }
    }

    /// For `/readyz`: nil when keys are loaded. Also starts a due refresh in the
    /// background, so a service that lost its keys recovers without traffic.
    public func readinessProblem() -> String? {
        let now = clock()
        var backgroundRefresh: FetchInProgress?
        let problem: String? = state.withLock { s in
            if refreshDue(s, now: now) || (s.keys.isEmpty && mayFetch(s, now: now)) {
                backgroundRefresh = claim(&s, now: now)
            }
            guard s.keys.isEmpty else { return nil }
            return "no JWKS key could ever be loaded from \(sourceDescription)" + (s.lastError.map { ": \($0)" } ?? "")
        }
        if let backgroundRefresh { runInBackground(backgroundRefresh) }
        return problem
    }

    /// Nil while the keys are fresh; else why they are stale (they are still used).
    public func staleness() -> String? {
        let now = clock()
        return state.withLock { s in
            guard !s.keys.isEmpty, let loadedAt = s.loadedAt, let error = s.lastError else { return nil }
            return "JWKS is stale: the last refresh failed (\(error)); using keys loaded \(Int(now - loadedAt)) s ago"
        }
    }

    /// Test hook: returns once no fetch is running.
    func waitForPendingFetch() {
        if let pending = state.withLock({ $0.inFlight }) { pending.wait(seconds: fetchTimeout + 1) }
    }

    // MARK: - Fetching

    private func mayFetch(_ s: State, now: Double) -> Bool {
        guard s.inFlight == nil else { return false }
        guard let last = s.lastAttempt else { return true }
        return now - last >= minRefetchInterval
    }

    private func refreshDue(_ s: State, now: Double) -> Bool {
        guard !s.keys.isEmpty, mayFetch(s, now: now), let loadedAt = s.loadedAt else { return false }
        return now - loadedAt >= ttl || s.lastError != nil
    }

    private func claim(_ s: inout State, now: Double) -> FetchInProgress {
        let pending = FetchInProgress()
        s.inFlight = pending
        s.lastAttempt = now
        fetches.add(1, ordering: .relaxed)
        return pending
    }

    private func refusal(_ s: State, now: Double) -> Lookup {
        guard s.keys.isEmpty else { return .unknownKid }
        let waited = s.lastAttempt.map { now - $0 } ?? minRefetchInterval
        return .unavailable(retryAfter: max(1, Int((minRefetchInterval - waited).rounded(.up))))
    }

    private func runInBackground(_ pending: FetchInProgress) {
        Thread.detachNewThread { [self] in run(pending) }
    }

    private func run(_ pending: FetchInProgress) {
        var outcome: Result<[String: SigningKey], JWKSetError>
        do {
            let parsed = try JWKSet.parse(try fetchDocument())
            for why in parsed.skipped { Log.debug("JWKS key skipped", ["source": sourceDescription, "why": why]) }
            outcome = parsed.keys.isEmpty
                ? .failure(JWKSetError(message: "the JWKS holds no RSA signing key"))
                : .success(parsed.keys)
        } catch let error as JWKSetError {
            outcome = .failure(error)
        } catch {
            outcome = .failure(JWKSetError(message: String(describing: error)))
        }
        let now = clock()
        let changed: Bool = state.withLock { s in
            defer { s.inFlight = nil }
            switch outcome {
            case .success(let keys):
                s.loadedAt = now
                s.lastError = nil
                guard keys != s.keys else { return false }
                // Only a withdrawn or replaced key voids earlier verifications; a new one does not.
                if s.keys.contains(where: { kid, key in keys[kid] != key }) {
                    keySetGeneration.add(1, ordering: .releasing)
                }
                s.keys = keys
                return true
            case .failure(let error):
                s.lastError = error.message
                return false
            }
        }
        pending.finish()
        switch outcome {
        case .success(let keys) where changed:
            Log.info("JWKS loaded", ["source": sourceDescription, "kids": keys.keys.sorted().joined(separator: ",")])
        case .success:
            break
        case .failure(let error):
            Log.warning("JWKS fetch failed", ["source": sourceDescription, "error": error.message])
        }
    }
}

/// Lets threads that need the result of a running fetch wait for it.
final class FetchInProgress: @unchecked Sendable {
    // Guarded by `condition`.
    private let condition = NSCondition()
    private var done = false

    func finish() {
        condition.lock()
        done = true
        condition.broadcast()
        condition.unlock()
    }

    func wait(seconds: Double) {
        let deadline = Date(timeIntervalSinceNow: seconds)
        condition.lock()
        defer { condition.unlock() }
        while !done {
            if !condition.wait(until: deadline) { return }
        }
    }
}
