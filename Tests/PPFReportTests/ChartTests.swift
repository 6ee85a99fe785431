import Foundation
import Testing
@testable import PPFReport

@Test func logAxisTicksArePowersOfTenCoveringTheData() {
    let ticks = AxisScale.log10.ticks(lower: 20, upper: 1_000_000)
    #expect(ticks == [10, 100, 1_000, 10_000, 100_000, 1_000_000])
    let narrow = AxisScale.log10.ticks(lower: 30, upper: 40)
    #expect(narrow == [10, 100])
}

@Test func linearAxisTicksUseNiceSteps() {
    let ticks = AxisScale.linear.ticks(lower: 0.1, upper: 0.5)
    let expected = [0.1, 0.2, 0.3, 0.4, 0.5]
    #expect(ticks.count == expected.count)
    #expect(zip(ticks, expected).allSatisfy { abs($0 - $1) < 1e-9 })
    // Ends that are not ticks widen outwards to the next 1-2-5 step.
    let widened = AxisScale.linear.ticks(lower: 3, upper: 97)
    #expect(widened.first == 0 && widened.last == 100)
}

@Test func lineChartPutsASeriesColouredMarkerAtEachPoint() throws {
    let red = RGB(200, 0, 0), blue = RGB(0, 0, 200)
    let chart = LineChart(title: "Perplexity", xLabel: "ratio", yLabel: "perplexity", yScale: .log10, series: [
        Series(name: "a", points: [(0.1, 30), (0.5, 3_000)], color: red),
        Series(name: "b", points: [(0.1, 50_000), (0.3, 0), (0.5, 1e6)], color: blue),
    ])
    let canvas = try chart.canvas(width: 640, height: 400)
    let first = try #require(chart.location(x: 0.1, y: 30, width: 640, height: 400))
    #expect(canvas.pixel(x: first.x, y: first.y) == red)
    #expect(canvas.pixel(x: first.x + 2, y: first.y + 1) == red)
    let second = try #require(chart.location(x: 0.5, y: 1e6, width: 640, height: 400))
    #expect(canvas.pixel(x: second.x, y: second.y) == blue)
    // Points a log axis cannot show are skipped, not drawn at a made-up place.
    #expect(chart.location(x: 0.3, y: 0, width: 640, height: 400) == nil)
    // Higher perplexity is higher on the image.
    #expect(second.y < first.y)
    // The PNG holds the same pixels: the marker's colour sits at its place in the decoded scanlines.
    let png = try chart.png(width: 640, height: 400)
    let (raw, _) = try inflate(try parseChunks(png)[1].data)
    let offset = first.y * (640 * 3 + 1) + 1 + first.x * 3
    #expect(Array(raw[offset..<(offset + 3)]) == [red.r, red.g, red.b])
}

@Test func scatterChartDrawsTheDiagonalThroughEqualValues() throws {
    let chart = ScatterChart(title: "Predicted vs measured", xLabel: "measured", yLabel: "predicted",
                             xScale: .log10, yScale: .log10,
                             series: [Series(name: "runs", points: [(30, 40), (1_000, 900)])], diagonal: true)
    let canvas = try chart.canvas(width: 400, height: 400)
    let onDiagonal = try #require(chart.location(x: 300, y: 300, width: 400, height: 400))
    let nearby = (-1...1).flatMap { dy in (-1...1).map { dx in canvas.pixel(x: onDiagonal.x + dx, y: onDiagonal.y + dy) } }
    #expect(nearby.contains(RGB.grey))
    let marker = try #require(chart.location(x: 30, y: 40, width: 400, height: 400))
    #expect(canvas.pixel(x: marker.x, y: marker.y) == RGB.palette[0])
}

@Test func tinyChartThrowsInvalidSize() {
    let chart = LineChart(title: "t", xLabel: "x", yLabel: "y", series: [])
    #expect(throws: ReportError.self) { try chart.png(width: 10, height: 10) }
}

@Test func writeReplacesTheFileAtomically() throws {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("ppf-report-\(UUID().uuidString).png")
    defer { try? FileManager.default.removeItem(at: url) }
    let chart = LineChart(title: "t", xLabel: "x", yLabel: "y", series: [Series(name: "s", points: [(1, 2), (2, 3)])])
    try chart.write(to: url, width: 200, height: 150)
    let bytes = try [UInt8](Data(contentsOf: url))
    #expect(Array(bytes.prefix(4)) == [0x89, 0x50, 0x4E, 0x47])
    #expect(throws: ReportError.self) {
        try chart.write(to: URL(fileURLWithPath: "/nonexistent-dir-ppf/x.png"), width: 200, height: 150)
    }
}
