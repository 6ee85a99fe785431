import Foundation

/// Where the plot area sits and how data maps into it.
struct ChartLayout {
    let plotLeft, plotTop, plotWidth, plotHeight: Int
    let xScale, yScale: AxisScale
    let xSpan, ySpan: (low: Double, high: Double, step: Double)

    /// Pixel position of axis coordinates (already transformed).
    func pixel(tx: Double, ty: Double) -> (x: Int, y: Int) {
        let fx = (tx - xSpan.low) / (xSpan.high - xSpan.low)
        let fy = (ty - ySpan.low) / (ySpan.high - ySpan.low)
        return (plotLeft + Int((fx * Double(plotWidth - 1)).rounded()),
                plotTop + plotHeight - 1 - Int((fy * Double(plotHeight - 1)).rounded()))
    }

    /// Pixel position of a data point, or nil if a scale cannot show it.
    func location(x: Double, y: Double) -> (x: Int, y: Int)? {
        guard let tx = xScale.transform(x), let ty = yScale.transform(y) else { return nil }
        return pixel(tx: tx, ty: ty)
    }
}

/// Draws line and scatter charts: axes, ticks, grid, series, legend, title.
struct ChartRenderer {
    let title, xLabel, yLabel: String
    let xScale, yScale: AxisScale
    let series: [Series]
    let connect, diagonal: Bool

    static let margin = 16
    static let titleScale = 2

    // MARK: - Layout

    /// The data range per axis in data values, from the points each scale can show.
    private func ranges() -> (x: (Double, Double), y: (Double, Double)) {
        var xs: [Double] = [], ys: [Double] = []
        for point in series.flatMap(\.points) where xScale.transform(point.x) != nil && yScale.transform(point.y) != nil {
            xs.append(point.x)
            ys.append(point.y)
        }
        let defaultRange: (AxisScale) -> (Double, Double) = { $0 == .log10 ? (1, 10) : (0, 1) }
        var x = xs.isEmpty ? defaultRange(xScale) : (xs.min() ?? 0, xs.max() ?? 1)
        var y = ys.isEmpty ? defaultRange(yScale) : (ys.min() ?? 0, ys.max() ?? 1)
        if diagonal, !xs.isEmpty, xScale == yScale {
            // Same range on both axes, so y = x runs corner to corner.
            let low = min(x.0, y.0), high = max(x.1, y.1)
            x = (low, high)
            y = (low, high)
        }
        return (x, y)
    }

    func layout(width: Int, height: Int) -> ChartLayout {
        let (xRange, yRange) = ranges()
        let xSpan = xScale.tickSpan(lower: xRange.0, upper: xRange.1)
        let ySpan = yScale.tickSpan(lower: yRange.0, upper: yRange.1)
        let yLabels = tickValues(yScale, ySpan).map { tickLabel($0, yScale, ySpan.step) }
        let labelWidth = yLabels.map { $0.width }.max() ?? 0
        let left = Self.margin + Canvas.textHeight() + 10 + labelWidth + 8
        let top = Self.margin + Canvas.textHeight(scale: Self.titleScale) + 14
        let bottom = Self.margin + 2 * Canvas.textHeight() + 20
        let right = Self.margin + 8
        return ChartLayout(plotLeft: left, plotTop: top, plotWidth: max(1, width - left - right),
                           plotHeight: max(1, height - top - bottom), xScale: xScale, yScale: yScale,
                           xSpan: xSpan, ySpan: ySpan)
    }

    private func tickValues(_ scale: AxisScale, _ span: (low: Double, high: Double, step: Double)) -> [Double] {
        let count = Int(((span.high - span.low) / span.step).rounded())
        return (0...count).map { span.low + Double($0) * span.step }
    }

    /// A tick label: "10" with a raised exponent on log axes, a decimal on linear ones.
    private func tickLabel(_ t: Double, _ scale: AxisScale, _ step: Double) -> (base: String, exponent: String, width: Int) {
        switch scale {
        case .log10:
            let exponent = String(Int(t.rounded()))
            return ("10", exponent, Canvas.textWidth("10") + 1 + Canvas.textWidth(exponent))
        case .linear:
            let decimals = max(0, Int(-floor(log10(step) + 1e-9)))
            var text = String(format: "%.\(decimals)f", t)
            if text.hasPrefix("-"), Double(text) == 0 { text.removeFirst() }
            return (text, "", Canvas.textWidth(text))
        }
    }

    // MARK: - Drawing

    func draw(width: Int, height: Int) throws -> Canvas {
        guard width >= 160, height >= 120 else {
            throw ReportError(.invalidSize, "a chart needs at least 160×120 pixels, not \(width)×\(height)")
        }
        var canvas = try Canvas(width: width, height: height)
        let layout = layout(width: width, height: height)
        drawAxes(&canvas, layout)
        if diagonal { drawDiagonal(&canvas, layout) }
        let colors = series.indices.map { series[$0].color ?? RGB.palette[$0 % RGB.palette.count] }
        for (index, entry) in series.enumerated() {
            let points = entry.points.compactMap { layout.location(x: $0.x, y: $0.y) == nil ? nil : $0 }
            let ordered = connect ? points.sorted { $0.x < $1.x } : points
            let pixels = ordered.compactMap { layout.location(x: $0.x, y: $0.y) }
            if connect {
                for (a, b) in zip(pixels, pixels.dropFirst()) {
                    canvas.line(from: (a.x, a.y), to: (b.x, b.y), color: colors[index], thickness: 2)
                }
            }
            for p in pixels { canvas.fillCircle(x: p.x, y: p.y, radius: 3, color: colors[index]) }
        }
        drawLegend(&canvas, layout, colors)
        let titleWidth = Canvas.textWidth(title, scale: Self.titleScale)
        canvas.text(title, x: max(0, (width - titleWidth) / 2), y: Self.margin, scale: Self.titleScale)
        return canvas
    }

    private func drawAxes(_ canvas: inout Canvas, _ layout: ChartLayout) {
        let left = layout.plotLeft, top = layout.plotTop
        let right = left + layout.plotWidth - 1, bottom = top + layout.plotHeight - 1
        let textHeight = Canvas.textHeight()
        // Grid and labels on y.
        for t in tickValues(yScale, layout.ySpan) {
            let y = layout.pixel(tx: layout.xSpan.low, ty: t).y
            canvas.line(from: (left, y), to: (right, y), color: .grid)
            canvas.line(from: (left - 5, y), to: (left, y), color: .black)
            let label = tickLabel(t, yScale, layout.ySpan.step)
            drawTickLabel(&canvas, label, x: left - 8 - label.width, y: y - textHeight / 2)
        }
        if yScale == .log10 { minorLogTicks(&canvas, layout, vertical: true) }
        // Grid and labels on x.
        for t in tickValues(xScale, layout.xSpan) {
            let x = layout.pixel(tx: t, ty: layout.ySpan.low).x
            canvas.line(from: (x, top), to: (x, bottom), color: .grid)
            canvas.line(from: (x, bottom), to: (x, bottom + 5), color: .black)
            let label = tickLabel(t, xScale, layout.xSpan.step)
            drawTickLabel(&canvas, label, x: x - label.width / 2, y: bottom + 9)
        }
        if xScale == .log10 { minorLogTicks(&canvas, layout, vertical: false) }
        canvas.strokeRect(x: left, y: top, width: layout.plotWidth, height: layout.plotHeight, color: .black)
        // Axis titles.
        canvas.text(xLabel, x: left + (layout.plotWidth - Canvas.textWidth(xLabel)) / 2, y: bottom + 14 + 2 * textHeight)
        canvas.text(yLabel, x: Self.margin, y: top + (layout.plotHeight + Canvas.textWidth(yLabel)) / 2, vertical: true)
    }

    private func drawTickLabel(_ canvas: inout Canvas, _ label: (base: String, exponent: String, width: Int), x: Int, y: Int) {
        canvas.text(label.base, x: x, y: y)
        if !label.exponent.isEmpty {
            canvas.text(label.exponent, x: x + Canvas.textWidth(label.base) + 1, y: y - 4)
        }
    }

    /// Short ticks at 2…9 × 10^k, when decades are far enough apart to tell them apart.
    private func minorLogTicks(_ canvas: inout Canvas, _ layout: ChartLayout, vertical: Bool) {
        let span = vertical ? layout.ySpan : layout.xSpan
        let pixelsPerDecade = Double(vertical ? layout.plotHeight : layout.plotWidth) / (span.high - span.low)
        guard span.step == 1, pixelsPerDecade >= 30 else { return }
        for decade in stride(from: span.low, to: span.high, by: 1) {
            for m in 2...9 {
                let t = decade + log10(Double(m))
                if vertical {
                    let y = layout.pixel(tx: layout.xSpan.low, ty: t).y
                    canvas.line(from: (layout.plotLeft - 3, y), to: (layout.plotLeft, y), color: .black)
                } else {
                    let x = layout.pixel(tx: t, ty: layout.ySpan.low).x
                    let bottom = layout.plotTop + layout.plotHeight - 1
                    canvas.line(from: (x, bottom), to: (x, bottom + 3), color: .black)
                }
            }
        }
    }

    /// y = x, sampled in data space so it is right whatever the two scales are.
    private func drawDiagonal(_ canvas: inout Canvas, _ layout: ChartLayout) {
        let low = max(xScale.value(at: layout.xSpan.low), yScale.value(at: layout.ySpan.low))
        let high = min(xScale.value(at: layout.xSpan.high), yScale.value(at: layout.ySpan.high))
        guard low < high, let a = xScale.transform(low), let b = xScale.transform(high) else { return }
        let samples = 64
        var previous: (x: Int, y: Int)?
        for i in 0...samples {
            let v = xScale.value(at: a + (b - a) * Double(i) / Double(samples))
            guard let p = layout.location(x: v, y: v) else { continue }
            if let q = previous { canvas.line(from: (q.x, q.y), to: (p.x, p.y), color: .grey, dash: 4) }
            previous = p
        }
    }

    private func drawLegend(_ canvas: inout Canvas, _ layout: ChartLayout, _ colors: [RGB]) {
        guard !series.isEmpty else { return }
        let rowHeight = Canvas.textHeight() + 6
        let textWidth = series.map { Canvas.textWidth($0.name) }.max() ?? 0
        let boxWidth = 8 + 22 + 6 + textWidth + 8
        let boxHeight = 6 + rowHeight * series.count
        let x = layout.plotLeft + layout.plotWidth - boxWidth - 8, y = layout.plotTop + 8
        canvas.fillRect(x: x, y: y, width: boxWidth, height: boxHeight, color: .white)
        canvas.strokeRect(x: x, y: y, width: boxWidth, height: boxHeight, color: .grey)
        for (index, entry) in series.enumerated() {
            let rowY = y + 6 + index * rowHeight, middle = rowY + Canvas.textHeight() / 2
            if connect { canvas.line(from: (x + 8, middle), to: (x + 30, middle), color: colors[index], thickness: 2) }
            canvas.fillCircle(x: x + 19, y: middle, radius: 3, color: colors[index])
            canvas.text(entry.name, x: x + 36, y: rowY)
        }
    }

    // MARK: - Files

    static func write(_ bytes: [UInt8], to url: URL) throws {
        do {
            try Data(bytes).write(to: url, options: .atomic)
        } catch {
            throw ReportError(.writeFailed, "could not write \(url.path): \(error.localizedDescription); check the directory exists and is writable")
        }
    }
}
