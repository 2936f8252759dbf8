#if canImport(Glibc)
import Glibc
#endif
import XCTest
@testable import Diagnostics

final class HostMetricsTests: XCTestCase {
    func testAWorkerAttachedToTheRegionCountsIntoItsSlotAndAScrapeAddsSlotsUp() throws {
        let host = try HostMetrics.create(slots: 4)
        host.setHost(startTime: 1_700_000_000, supervisorPid: getpid(), workers: 2, threadsPerWorker: 4)
        // A second mapping of the same memfd, as a worker gets it.
        let worker = try HostMetrics.attach(fd: host.fd)
        let slot = try XCTUnwrap(host.freeSlot())
        host.prepare(slot: slot, startTime: 1_700_000_001)
        host.started(slot: slot, pid: getpid())
        Metrics.attach(worker, slot: slot)

        Metrics.requestStarted()
        XCTAssertEqual(host.busyNow, 1)
        Metrics.requestFinished(route: 0, method: "GET", status: 200, seconds: 0.02, bodyBytes: 10)
        Metrics.requestStarted()
        Metrics.requestFinished(route: 999, method: "BREW", status: 418, seconds: 7, bodyBytes: 0)
        Metrics.s3Attempt("PutObject", .serverError)
        Metrics.s3Retry("PutObject")
        Metrics.storageFallback()
        XCTAssertEqual(host.busyNow, 0)
        XCTAssertEqual(host.busyMax, 1)

        let text = MetricsExposition(host: host, routes: ["/api/v1/user_settings/{user_id}"]).prometheusText()
        XCTAssertTrue(text.contains("recstore_http_requests_total{route=\"/api/v1/user_settings/{user_id}\",method=\"GET\",status=\"200\"} 1\n"), text)
        XCTAssertTrue(text.contains("recstore_http_requests_total{route=\"unmatched\",method=\"OTHER\",status=\"other\"} 1\n"), text)
        XCTAssertTrue(text.contains("recstore_http_request_duration_seconds_bucket{route=\"/api/v1/user_settings/{user_id}\",method=\"GET\",le=\"0.025\"} 1\n"), text)
        XCTAssertTrue(text.contains("recstore_http_request_duration_seconds_bucket{route=\"/api/v1/user_settings/{user_id}\",method=\"GET\",le=\"0.01\"} 0\n"), text)
        XCTAssertTrue(text.contains("recstore_s3_requests_total{operation=\"PutObject\",outcome=\"server_error\"} 1\n"), text)
        XCTAssertTrue(text.contains("recstore_s3_retries_total{operation=\"PutObject\"} 1\n"), text)
        XCTAssertTrue(text.contains("recstore_storage_fallbacks_total 1\n"), text)
        XCTAssertTrue(text.contains("recstore_upload_bytes_total 10\n"), text)
        XCTAssertTrue(text.contains("recstore_workers 1\n"), text)

        // The worker exits and another takes the slot: the counters stay, the gauges go.
        Metrics.requestStarted()
        host.exited(slot: slot, cpuSeconds: 1.5)
        host.workerRestarted()
        XCTAssertEqual(host.busyNow, 0)
        XCTAssertEqual(host.liveSlots().count, 0)
        let again = try XCTUnwrap(host.freeSlot())
        host.prepare(slot: again, startTime: 1_700_000_002)
        host.started(slot: again, pid: getpid())
        let after = MetricsExposition(host: host, routes: ["/api/v1/user_settings/{user_id}"]).prometheusText()
        XCTAssertTrue(after.contains("method=\"GET\",status=\"200\"} 1\n"), after)
        XCTAssertTrue(after.contains("recstore_worker_restarts_total 1\n"), after)
        XCTAssertGreaterThanOrEqual(host.exitedCPUSeconds, 1.5)

        let status = MetricsExposition(host: host, routes: []).status(full: true)
        XCTAssertEqual(status["accepted_requests"]?.doubleValue, 3)
        XCTAssertEqual(status["worker_restarts"]?.doubleValue, 1)
        XCTAssertEqual(status["processes"]?.arrayValue?.count, 1)
        XCTAssertEqual(status["processes"]?.arrayValue?.first?["pid"]?.doubleValue, Double(getpid()))
    }

    func testLabelValuesAreEscaped() {
        XCTAssertEqual(PrometheusWriter.escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd")
    }
}

final class RequestContextTests: XCTestCase {
    func testMeasuresPhasesAndCountsOutermostCallsOnly() {
        let context = RequestContext.begin(requestID: "req-1")
        defer { RequestContext.end() }
        XCTAssertEqual(RequestContext.current?.requestID, "req-1")
        RequestContext.measure(.storage) { RequestContext.measure(.storage) { usleep(2000) } }
        RequestContext.measure(.storage) {}
        let fields = Dictionary(uniqueKeysWithValues: context.breakdown().map { ($0.0, "\($0.1)") })
        XCTAssertEqual(fields["storage_calls"], "2")
        XCTAssertGreaterThanOrEqual(Double(fields["storage_ms"] ?? "") ?? 0, 2)
        RequestContext.end()
        XCTAssertNil(RequestContext.current)
    }
}

final class LogContextTests: XCTestCase {
    /// What `Log` writes to stderr while `body` runs.
    func captureStderr(_ body: () -> Void) -> String {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        let saved = dup(2)
        dup2(fds[1], 2)
        body()
        dup2(saved, 2)
        close(saved)
        close(fds[1])
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fds[0], $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out += buffer[0..<n]
        }
        close(fds[0])
        return String(decoding: out, as: UTF8.self)
    }

    func testLinesWrittenDuringARequestCarryItsIdUnlessTheyNameOne() {
        let text = captureStderr {
            Log.warning("outside")
            RequestContext.begin(requestID: "abc123")
            Log.warning("S3 request failed", ["operation": "PutObject"])
            Log.warning("explicit", ["request_id": "other"])
            RequestContext.end()
            Log.warning("after")
        }
        let lines = text.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 4, text)
        XCTAssertFalse(lines[0].contains("request_id"))
        XCTAssertTrue(lines[1].contains("\"request_id\":\"abc123\""), lines[1])
        XCTAssertTrue(lines[2].contains("\"request_id\":\"other\"") && !lines[2].contains("abc123"), lines[2])
        XCTAssertFalse(lines[3].contains("request_id"))
    }
}
