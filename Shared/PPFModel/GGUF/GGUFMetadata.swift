// MARK: - GGUFMetadata

/// The key/value metadata of a GGUF file, in file order, with typed,
/// throwing accessors for the keys a model needs.
///
/// Accessors throw ``ModelError/Code/missingMetadata`` when a key is absent
/// and ``ModelError/Code/invalidMetadata`` when it has the wrong type, so a
/// loader can simply `try` them. Assigning through the subscript replaces a
/// value in place or appends a new key, which keeps written files in a stable
/// order.
public struct GGUFMetadata: Sendable, Equatable {
    /// One key/value pair.
    public struct Entry: Sendable, Equatable {
        /// The key, e.g. `llama.block_count`.
        public var key: String
        /// The value.
        public var value: GGUFValue

        /// Creates an entry.
        public init(key: String, value: GGUFValue) {
            self.key = key
            self.value = value
        }
    }

    /// All entries in file (or insertion) order.
    public private(set) var entries: [Entry] = []
    private var index: [String: Int] = [:]

    /// Creates empty metadata.
    public init() {}

    /// Creates metadata from entries; a repeated key keeps the last value at
    /// the position of its first occurrence.
    public init(_ entries: [Entry]) {
        for entry in entries { self[entry.key] = entry.value }
    }

    /// The keys in order.
    public var keys: [String] { entries.map(\.key) }

    /// Number of entries.
    public var count: Int { entries.count }

    /// Whether `key` is present.
    public func contains(_ key: String) -> Bool { index[key] != nil }

    /// The value for `key`; setting `nil` removes the key.
    public subscript(key: String) -> GGUFValue? {
        get { index[key].map { entries[$0].value } }
        set {
            if let newValue {
                if let i = index[key] {
                    entries[i].value = newValue
                } else {
                    index[key] = entries.count
                    entries.append(Entry(key: key, value: newValue))
                }
            } else if let i = index.removeValue(forKey: key) {
                entries.remove(at: i)
                for j in i..<entries.count { index[entries[j].key] = j }
            }
        }
    }

    // MARK: - Typed accessors

    private func required(_ key: String, file: String, line: Int) throws -> GGUFValue {
        guard let value = self[key] else {
            throw ModelError(.missingMetadata, "metadata key '\(key)' is missing", file: file, line: line)
        }
        return value
    }

    private func invalid(_ key: String, _ value: GGUFValue, expected: String, file: String, line: Int) -> ModelError {
        ModelError(.invalidMetadata, "metadata key '\(key)' should be \(expected) but is \(value.type)",
                   file: file, line: line)
    }

    /// An integer of any width (uint8…int64).
    public func integer(_ key: String, file: String = #fileID, line: Int = #line) throws -> Int {
        let value = try required(key, file: file, line: line)
        guard let v = value.intValue else { throw invalid(key, value, expected: "an integer", file: file, line: line) }
        return v
    }

    /// An integer of any width, or `nil` when the key is absent.
    public func integerIfPresent(_ key: String, file: String = #fileID, line: Int = #line) throws -> Int? {
        contains(key) ? try integer(key, file: file, line: line) : nil
    }

    /// A floating-point number (float32/float64; integers are accepted too).
    public func double(_ key: String, file: String = #fileID, line: Int = #line) throws -> Double {
        let value = try required(key, file: file, line: line)
        guard let v = value.doubleValue else { throw invalid(key, value, expected: "a number", file: file, line: line) }
        return v
    }

    /// A floating-point number, or `nil` when the key is absent.
    public func doubleIfPresent(_ key: String, file: String = #fileID, line: Int = #line) throws -> Double? {
        contains(key) ? try double(key, file: file, line: line) : nil
    }

    /// A string.
    public func string(_ key: String, file: String = #fileID, line: Int = #line) throws -> String {
        let value = try required(key, file: file, line: line)
        guard let v = value.stringValue else { throw invalid(key, value, expected: "a string", file: file, line: line) }
        return v
    }

    /// A string, or `nil` when the key is absent.
    public func stringIfPresent(_ key: String, file: String = #fileID, line: Int = #line) throws -> String? {
        contains(key) ? try string(key, file: file, line: line) : nil
    }

    /// A bool.
    public func bool(_ key: String, file: String = #fileID, line: Int = #line) throws -> Bool {
        let value = try required(key, file: file, line: line)
        guard let v = value.boolValue else { throw invalid(key, value, expected: "a bool", file: file, line: line) }
        return v
    }

    /// A bool, or `nil` when the key is absent.
    public func boolIfPresent(_ key: String, file: String = #fileID, line: Int = #line) throws -> Bool? {
        contains(key) ? try bool(key, file: file, line: line) : nil
    }

    /// An array of any element type.
    public func array(_ key: String, file: String = #fileID, line: Int = #line) throws -> GGUFArray {
        let value = try required(key, file: file, line: line)
        guard let v = value.arrayValue else { throw invalid(key, value, expected: "an array", file: file, line: line) }
        return v
    }

    /// An array of strings.
    public func strings(_ key: String, file: String = #fileID, line: Int = #line) throws -> [String] {
        let a = try array(key, file: file, line: line)
        guard let v = a.stringValues else {
            throw ModelError(.invalidMetadata, "metadata key '\(key)' should be an array of strings but holds \(a.elementType)",
                             file: file, line: line)
        }
        return v
    }

    /// An array of integers of any width.
    public func integers(_ key: String, file: String = #fileID, line: Int = #line) throws -> [Int] {
        let a = try array(key, file: file, line: line)
        guard let v = a.intValues else {
            throw ModelError(.invalidMetadata, "metadata key '\(key)' should be an array of integers but holds \(a.elementType)",
                             file: file, line: line)
        }
        return v
    }

    /// A per-layer integer such as `llama.attention.head_count`: llama.cpp
    /// accepts either one integer for every layer or an array with one entry
    /// per layer (pruned models use the array form). Returns `count` values.
    public func integerPerLayer(_ key: String, count: Int, file: String = #fileID, line: Int = #line) throws -> [Int] {
        let value = try required(key, file: file, line: line)
        if let v = value.intValue { return Array(repeating: v, count: count) }
        guard case .array = value else {
            throw invalid(key, value, expected: "an integer or an array of integers", file: file, line: line)
        }
        let values = try integers(key, file: file, line: line)
        guard values.count == count else {
            throw ModelError(.invalidMetadata, "metadata key '\(key)' has \(values.count) entries, expected one per layer (\(count))",
                             file: file, line: line)
        }
        return values
    }
}
