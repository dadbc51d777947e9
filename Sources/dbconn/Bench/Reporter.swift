import DBConnection
import Synchronization

/// Drains the workers' tallies about once a second into the run's total and its second-by-second
/// samples, and shows progress.
final class Reporter: Sendable {
    private let configuration: BenchConfiguration
    private let tallies: [WorkerTally]
    private let start: ContinuousClock.Instant
    private let metrics: @Sendable () -> PoolMetrics
    private let write: @Sendable (String) -> Void
    private let state: Mutex<State>

    private struct State: Sendable {
        var total = Tally()
        var samples: [Sample] = []
        /// The tally of the last sample, so a short tail can be folded into it.
        var lastInterval = Tally()
        var lastTick: ContinuousClock.Instant
    }

    init(
        configuration: BenchConfiguration,
        tallies: [WorkerTally],
        start: ContinuousClock.Instant,
        metrics: @escaping @Sendable () -> PoolMetrics,
        write: @escaping @Sendable (String) -> Void
    ) {
        self.configuration = configuration
        self.tallies = tallies
        self.start = start
        self.metrics = metrics
        self.write = write
        self.state = Mutex(State(lastTick: start))
    }

    /// Ticks at each whole second after the start, until cancelled.
    func tickEverySecond() async {
        let clock = ContinuousClock()
        var next = start + .seconds(1)
        while true {
            do {
                try await clock.sleep(until: next)
            } catch {
                return
            }
            let now = clock.now
            tick(at: now)
            while next <= now { next += .seconds(1) }
        }
    }

    private func drain() -> Tally {
        var interval = Tally()
        for tally in tallies { tally.drain(into: &interval) }
        return interval
    }

    private func tick(at now: ContinuousClock.Instant) {
        let interval = drain()
        let (sample, soFar, done, failed) = state.withLock { state in
            let sample = makeSample(interval, from: state.lastTick, to: now)
            state.total.add(interval)
            state.samples.append(sample)
            state.lastInterval = interval
            state.lastTick = now
            // The run's percentiles so far only for the progress line: reading them walks the whole
            // histogram.
            let soFar = configuration.progress == .none ? nil : Percentiles(state.total.latency)
            return (sample, soFar, state.total.committed, state.total.failed)
        }
        if let soFar { show(sample: sample, soFar: soFar, committed: done, failed: failed) }
    }

    /// Takes the last tallies; a tail shorter than half a second joins the last sample.
    func finish(at end: ContinuousClock.Instant) -> (total: Tally, samples: [Sample]) {
        let remainder = drain()
        let result = state.withLock { state in
            state.total.add(remainder)
            let tail = state.lastTick.duration(to: end)
            if tail < .milliseconds(500), let last = state.samples.popLast() {
                state.lastInterval.add(remainder)
                var merged = makeSample(state.lastInterval, from: start + .seconds(last.start), to: end)
                merged.start = last.start
                state.samples.append(merged)
            } else {
                state.samples.append(makeSample(remainder, from: state.lastTick, to: end))
            }
            state.lastTick = end
            return (state.total, state.samples)
        }
        if configuration.progress == .live { write("\r\u{1B}[K") }
        return result
    }

    private func makeSample(_ tally: Tally, from: ContinuousClock.Instant, to: ContinuousClock.Instant) -> Sample {
        let percentiles = Percentiles(tally.latency)
        return Sample(
            start: start.duration(to: from).seconds,
            end: start.duration(to: to).seconds,
            committed: tally.committed,
            failed: tally.failed,
            p50: percentiles.p50,
            p99: percentiles.p99
        )
    }

    /// The progress line; only called when ``BenchConfiguration/progress`` shows one.
    private func show(sample: Sample, soFar: Percentiles, committed: Int, failed: Int) {
        let metrics = metrics()
        var line: String
        switch configuration.limit {
        case .duration(let duration):
            let total = Format.seconds(duration.seconds)
            line = Format.padLeft(Format.fixed(sample.end, 1), total.count + 2) + "/\(total) s"
        case .transactions(let count):
            line =
                Format.padLeft(Format.fixed(sample.end, 1), 5) + " s, "
                + Format.padLeft("\(committed + failed)", "\(count)".count) + "/\(count) transactions"
        }
        line += Format.padLeft(Format.fixed(sample.transactionsPerSecond, 0), 8) + " tps"
        line += "  p50 \(Format.microseconds(soFar.p50))  p99 \(Format.microseconds(soFar.p99))"
        line += "  pool \(metrics.idleConnections) idle \(metrics.busyConnections) busy, queue \(metrics.queueLength)"
        if failed > 0 { line += "  errors \(failed)" }
        switch configuration.progress {
        case .live:
            if let columns = Terminal.columns(), line.count >= columns {
                // A line that wraps can't be rewritten with \r.
                line = String(line.prefix(columns - 1))
            }
            write("\r\(line)\u{1B}[K")
        case .lines: write(line + "\n")
        case .none: break
        }
    }
}
