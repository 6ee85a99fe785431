import Foundation

// MARK: - Recorded

/// Values a test collects from callbacks that may run on any task or thread
/// (progress events, log lines, calls counted), behind a lock.
public final class Recorded<Element: Sendable>: @unchecked Sendable {
    // @unchecked: `elements` is guarded by `lock`.
    private let lock = NSLock()
    private var elements: [Element] = []

    /// An empty record.
    public init() {}

    /// Records one value.
    public func append(_ element: Element) { lock.withLock { elements.append(element) } }

    /// Everything recorded, in order.
    public var values: [Element] { lock.withLock { elements } }

    /// How many values were recorded.
    public var count: Int { lock.withLock { elements.count } }
}
