import Foundation

/// The `--chart FILE.svg` of a run: throughput per second above, latency per second below, on one
/// time axis. Hand-written SVG, no dependencies; any browser shows it.
enum Chart {
    static let width = 1000.0
    static let height = 600.0

    private struct Panel {
        var top: Double
        var height: Double
        var label: String
        var maximum: Double
        var step: Double
    }

    private struct Series {
        var name: String
        var color: String
        var dashed: Bool
        var values: [Double]
    }

    /// The SVG document for a run.
    static func svg(for result: BenchResult) -> String {
        let configuration = result.configuration
        let samples = result.samples
        let left = 90.0
        let right = 40.0
        let top = 92.0
        let bottom = 56.0
        let gap = 44.0
        let plotWidth = width - left - right
        let panelHeight = (height - top - bottom - gap) / 2

        // The time axis spans the run exactly; its ticks fall on round seconds.
        let xMaximum = max(samples.last?.end ?? 1, 1e-3)
        let xStep = niceStep(for: xMaximum, ticks: 10)
        func x(_ seconds: Double) -> Double { left + seconds / xMaximum * plotWidth }

        let throughput = Series(
            name: "committed / s",
            color: "#1f77b4",
            dashed: false,
            values: samples.map(\.transactionsPerSecond)
        )
        var throughputSeries = [throughput]
        if samples.contains(where: { $0.failed > 0 }) {
            throughputSeries.append(
                Series(
                    name: "failed / s",
                    color: "#d62728",
                    dashed: false,
                    values: samples.map { $0.end > $0.start ? Double($0.failed) / ($0.end - $0.start) : 0 }
                )
            )
        }
        let latencySeries = [
            Series(name: "p99", color: "#ff7f0e", dashed: false, values: samples.map { Double($0.p99) / 1000 }),
            Series(name: "p50", color: "#2ca02c", dashed: true, values: samples.map { Double($0.p50) / 1000 }),
        ]

        func panel(top: Double, label: String, series: [Series]) -> Panel {
            let maximumRaw = series.flatMap(\.values).max() ?? 0
            let step = niceStep(for: maximumRaw, ticks: 5)
            let maximum = max(step, (maximumRaw / step).rounded(.up) * step)
            return Panel(top: top, height: panelHeight, label: label, maximum: maximum, step: step)
        }
        let upper = panel(top: top, label: "throughput (transactions/s)", series: throughputSeries)
        let lower = panel(top: top + panelHeight + gap, label: "latency per second (ms)", series: latencySeries)

        var svg: [String] = []
        svg.append(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" "
                + "viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">"
        )
        svg.append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>")
        let title =
            "dbconn bench: \(configuration.workload.rawValue) workload, \(configuration.database.systemName), "
            + "pool size \(configuration.poolSize), concurrency \(configuration.concurrency)"
        svg.append(text(title, x: width / 2, y: 28, anchor: "middle", size: 18, weight: "bold"))
        let latency = Percentiles(result.total.latency)
        let subtitle =
            "\(result.total.committed) committed, \(result.total.failed) failed in "
            + "\(Format.fixed(result.elapsed.seconds, 1)) s: \(Format.fixed(result.transactionsPerSecond, 0)) tps; "
            + "latency p50 \(Format.microseconds(latency.p50)), p99 \(Format.microseconds(latency.p99)), "
            + "max \(Format.microseconds(latency.max)); consistent: \(result.consistency.isConsistent ? "yes" : "NO")"
        svg.append(text(subtitle, x: width / 2, y: 50, anchor: "middle", size: 13, color: "#444"))

        for (panel, series) in [(upper, throughputSeries), (lower, latencySeries)] {
            func y(_ value: Double) -> Double { panel.top + panel.height - value / panel.maximum * panel.height }
            // Grid and y axis.
            var tick = 0.0
            while tick <= panel.maximum + panel.step / 2 {
                let yy = y(tick)
                svg.append(line(x1: left, y1: yy, x2: left + plotWidth, y2: yy, color: "#e5e5e5"))
                svg.append(text(axisLabel(tick), x: left - 8, y: yy + 4, anchor: "end"))
                tick += panel.step
            }
            var xTick = 0.0
            while xTick <= xMaximum * 1.000_001 {
                let xx = x(xTick)
                svg.append(line(x1: xx, y1: panel.top, x2: xx, y2: panel.top + panel.height, color: "#f0f0f0"))
                svg.append(text(axisLabel(xTick), x: xx, y: panel.top + panel.height + 16, anchor: "middle"))
                xTick += xStep
            }
            svg.append(
                "<rect x=\"\(f(left))\" y=\"\(f(panel.top))\" width=\"\(f(plotWidth))\" height=\"\(f(panel.height))\" "
                    + "fill=\"none\" stroke=\"#888\"/>"
            )
            let labelY = panel.top + panel.height / 2
            svg.append(
                "<text x=\"24\" y=\"\(f(labelY))\" text-anchor=\"middle\" font-size=\"13\" "
                    + "transform=\"rotate(-90 24 \(f(labelY)))\">\(escape(panel.label))</text>"
            )
            // Series.
            for item in series {
                let points = zip(samples, item.values).map { "\(f(x($0.end))),\(f(y($1)))" }
                if points.count > 1 {
                    svg.append(
                        "<polyline fill=\"none\" stroke=\"\(item.color)\" stroke-width=\"2\""
                            + (item.dashed ? " stroke-dasharray=\"6 4\"" : "")
                            + " points=\"\(points.joined(separator: " "))\"/>"
                    )
                }
                if points.count <= 60 {
                    for (sample, value) in zip(samples, item.values) {
                        svg.append(
                            "<circle cx=\"\(f(x(sample.end)))\" cy=\"\(f(y(value)))\" r=\"3\" fill=\"\(item.color)\"/>"
                        )
                    }
                }
            }
            // Legend, right-aligned just above the panel.
            var legendX = left + plotWidth + 6
            for item in series.reversed() {
                let labelWidth = Double(item.name.count) * 7 + 34
                legendX -= labelWidth
                svg.append(
                    line(
                        x1: legendX,
                        y1: panel.top - 10,
                        x2: legendX + 22,
                        y2: panel.top - 10,
                        color: item.color,
                        width: 2,
                        dashed: item.dashed
                    )
                )
                svg.append(text(item.name, x: legendX + 27, y: panel.top - 6))
            }
        }
        svg.append(text("elapsed time (s)", x: left + plotWidth / 2, y: height - 14, anchor: "middle", size: 13))
        svg.append("</svg>")
        return svg.joined(separator: "\n") + "\n"
    }

    /// A round step that cuts `0...maximum` into about `ticks` parts: 1, 2 or 5 times a power of 10.
    static func niceStep(for maximum: Double, ticks: Int) -> Double {
        guard maximum > 0, maximum.isFinite else { return 1 }
        let raw = maximum / Double(ticks)
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        let residual = raw / magnitude
        // A little slack, so 10.03 s gets ticks every second, not every two.
        let nice: Double = residual <= 1.05 ? 1 : residual <= 2.1 ? 2 : residual <= 5.2 ? 5 : 10
        return nice * magnitude
    }

    private static func axisLabel(_ value: Double) -> String {
        if abs(value) >= 10_000 {
            return String(format: "%g", (value / 1000 * 1000).rounded() / 1000) + "k"
        }
        return String(format: "%g", (value * 1e6).rounded() / 1e6)
    }

    private static func f(_ value: Double) -> String { String(format: "%.1f", value) }

    private static func line(
        x1: Double,
        y1: Double,
        x2: Double,
        y2: Double,
        color: String,
        width: Double = 1,
        dashed: Bool = false
    ) -> String {
        "<line x1=\"\(f(x1))\" y1=\"\(f(y1))\" x2=\"\(f(x2))\" y2=\"\(f(y2))\" stroke=\"\(color)\" stroke-width=\"\(width)\""
            + (dashed ? " stroke-dasharray=\"6 4\"" : "") + "/>"
    }

    private static func text(
        _ content: String,
        x: Double,
        y: Double,
        anchor: String = "start",
        size: Double = 12,
        weight: String = "normal",
        color: String = "#222"
    ) -> String {
        "<text x=\"\(f(x))\" y=\"\(f(y))\" text-anchor=\"\(anchor)\" font-size=\"\(Format.seconds(size))\" "
            + "font-weight=\"\(weight)\" fill=\"\(color)\">\(escape(content))</text>"
    }

    /// Escapes text for XML.
    static func escape(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
