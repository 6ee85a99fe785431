import Foundation

/// One named line or set of markers on a chart.
public struct Series: Sendable {
    /// The legend entry.
    public var name: String
    /// The data points; points the axis scale cannot show (NaN, ≤ 0 on a log axis) are skipped.
    public var points: [(x: Double, y: Double)]
    /// The colour; nil picks the next palette colour.
    public var color: RGB?

    /// Makes a series.
    public init(name: String, points: [(x: Double, y: Double)], color: RGB? = nil) {
        self.name = name
        self.points = points
        self.color = color
    }
}

/// Lines through each series' points in x order, with markers: e.g. perplexity against ratio.
public struct LineChart: Sendable {
    /// Drawn above the plot.
    public var title: String
    /// Under the x axis.
    public var xLabel: String
    /// Beside the y axis, reading upwards.
    public var yLabel: String
    /// The x axis mapping.
    public var xScale: AxisScale
    /// The y axis mapping; `.log10` for perplexities.
    public var yScale: AxisScale
    /// The data.
    public var series: [Series]

    /// Makes a line chart.
    public init(title: String, xLabel: String, yLabel: String, xScale: AxisScale = .linear,
                yScale: AxisScale = .linear, series: [Series]) {
        (self.title, self.xLabel, self.yLabel) = (title, xLabel, yLabel)
        (self.xScale, self.yScale, self.series) = (xScale, yScale, series)
    }

    var renderer: ChartRenderer {
        ChartRenderer(title: title, xLabel: xLabel, yLabel: yLabel, xScale: xScale, yScale: yScale,
                      series: series, connect: true, diagonal: false)
    }

    /// The chart drawn on a canvas of `width × height` pixels.
    public func canvas(width: Int = 800, height: Int = 500) throws -> Canvas { try renderer.draw(width: width, height: height) }
    /// The chart as a PNG file.
    public func png(width: Int = 800, height: Int = 500) throws -> [UInt8] { try canvas(width: width, height: height).png() }
    /// Where the data point (`x`, `y`) lands on a `width × height` canvas, or nil if it cannot be shown.
    public func location(x: Double, y: Double, width: Int = 800, height: Int = 500) -> (x: Int, y: Int)? {
        renderer.layout(width: width, height: height).location(x: x, y: y)
    }
    /// Writes the PNG to `url` atomically.
    public func write(to url: URL, width: Int = 800, height: Int = 500) throws {
        try ChartRenderer.write(png(width: width, height: height), to: url)
    }
}

/// Markers only, optionally with the y = x diagonal: e.g. predicted against measured perplexity.
public struct ScatterChart: Sendable {
    /// Drawn above the plot.
    public var title: String
    /// Under the x axis.
    public var xLabel: String
    /// Beside the y axis, reading upwards.
    public var yLabel: String
    /// The x axis mapping.
    public var xScale: AxisScale
    /// The y axis mapping.
    public var yScale: AxisScale
    /// The data.
    public var series: [Series]
    /// Draws a dashed y = x line, so points on it are perfect predictions.
    public var diagonal: Bool

    /// Makes a scatter chart.
    public init(title: String, xLabel: String, yLabel: String, xScale: AxisScale = .linear,
                yScale: AxisScale = .linear, series: [Series], diagonal: Bool = false) {
        (self.title, self.xLabel, self.yLabel) = (title, xLabel, yLabel)
        (self.xScale, self.yScale, self.series, self.diagonal) = (xScale, yScale, series, diagonal)
    }

    var renderer: ChartRenderer {
        ChartRenderer(title: title, xLabel: xLabel, yLabel: yLabel, xScale: xScale, yScale: yScale,
                      series: series, connect: false, diagonal: diagonal)
    }

    /// The chart drawn on a canvas of `width × height` pixels.
    public func canvas(width: Int = 600, height: Int = 600) throws -> Canvas { try renderer.draw(width: width, height: height) }
    /// The chart as a PNG file.
    public func png(width: Int = 600, height: Int = 600) throws -> [UInt8] { try canvas(width: width, height: height).png() }
    /// Where the data point (`x`, `y`) lands on a `width × height` canvas, or nil if it cannot be shown.
    public func location(x: Double, y: Double, width: Int = 600, height: Int = 600) -> (x: Int, y: Int)? {
        renderer.layout(width: width, height: height).location(x: x, y: y)
    }
    /// Writes the PNG to `url` atomically.
    public func write(to url: URL, width: Int = 600, height: Int = 600) throws {
        try ChartRenderer.write(png(width: width, height: height), to: url)
    }
}
