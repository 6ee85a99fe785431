import Foundation

/// An RGB colour, eight bits per channel.
public struct RGB: Hashable, Sendable {
    /// Red, green and blue.
    public var r, g, b: UInt8
    /// Makes a colour from its channels.
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) { (self.r, self.g, self.b) = (r, g, b) }

    /// White, the background.
    public static let white = RGB(255, 255, 255)
    /// Black, for axes and text.
    public static let black = RGB(0, 0, 0)
    /// Light grey, for grid lines.
    public static let grid = RGB(225, 225, 225)
    /// Mid grey, for reference lines.
    public static let grey = RGB(140, 140, 140)

    /// Distinct series colours (Tableau 10), in order of use.
    public static let palette: [RGB] = [
        RGB(31, 119, 180), RGB(255, 127, 14), RGB(44, 160, 44), RGB(214, 39, 40), RGB(148, 103, 189),
        RGB(140, 86, 75), RGB(227, 119, 194), RGB(127, 127, 127), RGB(188, 189, 34), RGB(23, 190, 207),
    ]
}

/// A raster of RGB pixels with the drawing primitives charts need. Drawing outside clips silently.
public struct Canvas: Sendable {
    // MARK: - Storage

    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// Pixels row by row from the top, three bytes each.
    public private(set) var rgb: [UInt8]

    /// A canvas filled with `background`.
    public init(width: Int, height: Int, background: RGB = .white) throws {
        guard width > 0, height > 0, width <= 1 << 14, height <= 1 << 14 else {
            throw ReportError(.invalidSize, "a canvas must be 1…16384 pixels on each side, not \(width)×\(height)")
        }
        self.width = width
        self.height = height
        rgb = [UInt8](repeating: 0, count: width * height * 3)
        fillRect(x: 0, y: 0, width: width, height: height, color: background)
    }

    /// The colour at (`x`, `y`), or nil outside the canvas.
    public func pixel(x: Int, y: Int) -> RGB? {
        guard x >= 0, y >= 0, x < width, y < height else { return nil }
        let i = (y * width + x) * 3
        return RGB(rgb[i], rgb[i + 1], rgb[i + 2])
    }

    /// Sets one pixel; ignored outside the canvas.
    public mutating func set(x: Int, y: Int, _ color: RGB) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = (y * width + x) * 3
        rgb[i] = color.r
        rgb[i + 1] = color.g
        rgb[i + 2] = color.b
    }

    /// The canvas as a PNG file.
    public func png() throws -> [UInt8] {
        try PNGEncoder.encode(width: width, height: height, rgb: rgb)
    }

    // MARK: - Shapes

    /// A filled rectangle with its top-left corner at (`x`, `y`).
    public mutating func fillRect(x: Int, y: Int, width w: Int, height h: Int, color: RGB) {
        for row in max(0, y)..<max(max(0, y), min(height, y + h)) {
            for column in max(0, x)..<max(max(0, x), min(width, x + w)) { set(x: column, y: row, color) }
        }
    }

    /// A one-pixel rectangle outline.
    public mutating func strokeRect(x: Int, y: Int, width w: Int, height h: Int, color: RGB) {
        line(from: (x, y), to: (x + w - 1, y), color: color)
        line(from: (x, y + h - 1), to: (x + w - 1, y + h - 1), color: color)
        line(from: (x, y), to: (x, y + h - 1), color: color)
        line(from: (x + w - 1, y), to: (x + w - 1, y + h - 1), color: color)
    }

    /// A Bresenham line, `thickness` pixels wide (a square brush), optionally dashed.
    public mutating func line(from start: (Int, Int), to end: (Int, Int), color: RGB, thickness: Int = 1, dash: Int = 0) {
        var (x0, y0) = start
        let (x1, y1) = end
        // Endpoints far outside (a log axis can map to huge numbers) would make the loop long.
        guard abs(x0) < 1 << 20, abs(y0) < 1 << 20, abs(x1) < 1 << 20, abs(y1) < 1 << 20 else { return }
        let dx = abs(x1 - x0), dy = -abs(y1 - y0)
        let sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1
        var error = dx + dy
        var step = 0
        let low = -(thickness - 1) / 2, high = thickness / 2
        while true {
            if dash == 0 || (step / dash) % 2 == 0 {
                for oy in low...high { for ox in low...high { set(x: x0 + ox, y: y0 + oy, color) } }
            }
            step += 1
            if x0 == x1 && y0 == y1 { break }
            let doubled = 2 * error
            if doubled >= dy { error += dy; x0 += sx }
            if doubled <= dx { error += dx; y0 += sy }
        }
    }

    /// A filled disc of `radius` pixels centred on (`x`, `y`).
    public mutating func fillCircle(x: Int, y: Int, radius: Int, color: RGB) {
        guard radius >= 0 else { return }
        for oy in -radius...radius {
            for ox in -radius...radius where ox * ox + oy * oy <= radius * radius + radius {
                set(x: x + ox, y: y + oy, color)
            }
        }
    }

    // MARK: - Text

    /// Draws `text` with its top-left corner at (`x`, `y`), each font pixel `scale` pixels wide.
    /// When `vertical`, the text runs bottom to top (a y-axis label) and (`x`, `y`) is its bottom-left.
    public mutating func text(_ text: String, x: Int, y: Int, color: RGB = .black, scale: Int = 1, vertical: Bool = false) {
        var pen = 0
        for character in text {
            let rows = BitmapFont.rows(character), drop = BitmapFont.drop(character)
            for (gy, bits) in rows.enumerated() {
                for gx in 0..<BitmapFont.glyphWidth where bits & (0x10 >> UInt8(gx)) != 0 {
                    let u = (pen + gx) * scale, v = (gy + drop) * scale
                    for sy in 0..<scale {
                        for sx in 0..<scale {
                            if vertical { set(x: x + v + sy, y: y - u - sx, color) } else { set(x: x + u + sx, y: y + v + sy, color) }
                        }
                    }
                }
            }
            pen += BitmapFont.advance
        }
    }

    /// Width in pixels of `text` at `scale`.
    public static func textWidth(_ text: String, scale: Int = 1) -> Int { BitmapFont.width(text, scale: scale) }

    /// Height in pixels of one line of text at `scale`, from the top of capitals to the baseline
    /// (tails of g, j, p, q, y reach two font pixels lower).
    public static func textHeight(scale: Int = 1) -> Int { BitmapFont.glyphHeight * scale }
}
