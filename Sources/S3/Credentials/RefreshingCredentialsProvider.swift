import Diagnostics
import Foundation
import Synchronization

/// Caches temporary credentials from a provider that fetches (container endpoint,
/// instance metadata) and fetches again `refreshBefore` seconds before they expire.
///
/// One fetch at a time: while credentials are still valid, the thread that notices
/// the refresh is due fetches and every other thread keeps using the current ones;
/// when none are valid, other threads wait for that fetch and share its outcome
/// rather than each asking the endpoint in turn.
public final class RefreshingCredentialsProvider: CredentialsProvider {
    public let source: any CredentialsProvider
    let refreshBefore: TimeInterval
    /// After a failed refresh while the current credentials still hold, wait this
    /// long before asking again (not on every request).
    let retryInterval: TimeInterval
    /// Credentials this close to expiring are no longer handed out: a request signed
    /// now must still arrive before they lapse.
    static let expiryMargin: TimeInterval = 10

    private let now: @Sendable () -> Date
    private let cache = Mutex(Cache())
    /// Held for the length of a fetch.
    private let fetching = Mutex(())

    private struct Cache {
        var credentials: AWSCredentials?
        var refreshAt = Date.distantPast
        /// Bumped by every finished fetch, successful or not.
        var generation = 0
        var lastError: CredentialsError?
    }

    public init(_ source: any CredentialsProvider, refreshBefore: TimeInterval = 300, retryInterval: TimeInterval = 10,
                now: @escaping @Sendable () -> Date = Date.init) {
        self.source = source
        self.refreshBefore = refreshBefore
        self.retryInterval = retryInterval
        self.now = now
    }

    public func credentials() throws -> AWSCredentials {
        let (cached, refreshAt, generation) = cache.withLock { ($0.credentials, $0.refreshAt, $0.generation) }
        let time = now()
        if let cached, usable(cached, at: time) {
            if time < refreshAt { return cached }
            // Due for refresh but still good: refresh unless another thread already is.
            guard let outcome = fetching.withLockIfAvailable({ _ in refresh(after: generation) }) else { return cached }
            if case .success(let fresh) = outcome { return fresh }
            return cached
        }
        return try fetching.withLock { _ in refresh(after: generation) }.get()
    }

    /// Runs with `fetching` held. `seen` is the generation the caller saw before
    /// waiting: if a fetch finished meanwhile, its outcome is the caller's too.
    private func refresh(after seen: Int) -> Result<AWSCredentials, CredentialsError> {
        let state = cache.withLock { $0 }
        let time = now()
        if state.generation != seen {
            if let c = state.credentials, usable(c, at: time) { return .success(c) }
            if let e = state.lastError { return .failure(e) }
        }
        let outcome: Result<AWSCredentials, CredentialsError>
        do {
            let fresh = try source.credentials()
            if let expiration = fresh.expiration, !usable(fresh, at: time) {
                throw CredentialsError("the credentials received had already expired (at \(Timestamp.iso8601(expiration)))")
            }
            outcome = .success(fresh)
        } catch {
            outcome = .failure(error as? CredentialsError ?? CredentialsError("\(error)"))
        }
        cache.withLock { cache in
            cache.generation += 1
            switch outcome {
            case .success(let fresh):
                cache.credentials = fresh
                cache.lastError = nil
                cache.refreshAt = refreshTime(for: fresh, fetchedAt: time)
            case .failure(let error):
                cache.lastError = error
                cache.refreshAt = time.addingTimeInterval(retryInterval)
                if let old = cache.credentials, usable(old, at: time) {
                    Log.warning("credentials refresh failed; using the current ones until they expire",
                                ["error": error.message, "expires": old.expiration.map(Timestamp.iso8601) ?? "never"])
                }
            }
        }
        return outcome
    }

    /// `refreshBefore` ahead of expiry; for credentials that live shorter than that,
    /// half way through their remaining life (never on every call).
    private func refreshTime(for credentials: AWSCredentials, fetchedAt time: Date) -> Date {
        guard let expiration = credentials.expiration else { return .distantFuture }
        let early = expiration.addingTimeInterval(-refreshBefore)
        if early > time { return early }
        return time.addingTimeInterval(expiration.timeIntervalSince(time) / 2)
    }

    private func usable(_ credentials: AWSCredentials, at time: Date) -> Bool {
        guard let expiration = credentials.expiration else { return true }
        return expiration.timeIntervalSince(time) > Self.expiryMargin
    }
}
