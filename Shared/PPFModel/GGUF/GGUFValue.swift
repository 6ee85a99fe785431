// MARK: - Value types

/// The type tag of a GGUF metadata value (GGUF spec, `gguf_metadata_value_type`).
public enum GGUFValueType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case uint8 = 0
    case int8 = 1
    case uint16 = 2
    case int16 = 3
    case uint32 = 4
    case int32 = 5
    case float32 = 6
    case bool = 7
    case string = 8
    case array = 9
    case uint64 = 10
    case int64 = 11
    case float64 = 12

    public var description: String {
        switch self {
        case .uint8: "uint8"
        case .int8: "int8"
        case .uint16: "uint16"
        case .int16: "int16"
        case .uint32: "uint32"
        case .int32: "int32"
        case .float32: "float32"
        case .bool: "bool"
        case .string: "string"
        case .array: "array"
        case .uint64: "uint64"
        case .int64: "int64"
        case .float64: "float64"
        }
    }
}

/// One GGUF metadata value. The case fixes the type written to a file, so
/// `.uint32(30)` and `.int32(30)` are different values.
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8)
    case int8(Int8)
    case uint16(UInt16)
    case int16(Int16)
    case uint32(UInt32)
    case int32(Int32)
    case uint64(UInt64)
    case int64(Int64)
    case float32(Float)
    case float64(Double)
    case bool(Bool)
    case string(String)
    case array(GGUFArray)

    /// The type tag this value is written with.
    public var type: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .uint64: .uint64
        case .int64: .int64
        case .float32: .float32
        case .float64: .float64
        case .bool: .bool
        case .string: .string
        case .array: .array
        }
    }

    /// The value as an `Int` when it is any integer type and fits.
    public var intValue: Int? {
        switch self {
        case .uint8(let v): Int(v)
        case .int8(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint64(let v): Int(exactly: v)
        case .int64(let v): Int(v)
        default: nil
        }
    }

    /// The value as a `Double` when it is any floating-point or integer type.
    public var doubleValue: Double? {
        switch self {
        case .float32(let v): Double(v)
        case .float64(let v): v
        default: intValue.map(Double.init)
        }
    }

    /// The string, when this is a string.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The flag, when this is a bool.
    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The array, when this is an array.
    public var arrayValue: GGUFArray? {
        if case .array(let a) = self { return a }
        return nil
    }
}

/// A homogeneous GGUF array. Arrays are stored typed (not as `[GGUFValue]`)
/// because vocabularies hold tens of thousands of elements; nested arrays
/// are arrays of arrays, each inner array with its own element type.
public enum GGUFArray: Sendable, Equatable {
    case uint8([UInt8])
    case int8([Int8])
    case uint16([UInt16])
    case int16([Int16])
    case uint32([UInt32])
    case int32([Int32])
    case uint64([UInt64])
    case int64([Int64])
    case float32([Float])
    case float64([Double])
    case bool([Bool])
    case string([String])
    case array([GGUFArray])

    /// The type tag of the elements.
    public var elementType: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .uint64: .uint64
        case .int64: .int64
        case .float32: .float32
        case .float64: .float64
        case .bool: .bool
        case .string: .string
        case .array: .array
        }
    }

    /// Number of elements.
    public var count: Int {
        switch self {
        case .uint8(let a): a.count
        case .int8(let a): a.count
        case .uint16(let a): a.count
        case .int16(let a): a.count
        case .uint32(let a): a.count
        case .int32(let a): a.count
        case .uint64(let a): a.count
        case .int64(let a): a.count
        case .float32(let a): a.count
        case .float64(let a): a.count
        case .bool(let a): a.count
        case .string(let a): a.count
        case .array(let a): a.count
        }
    }

    /// The elements as `Int`s when the element type is an integer type and
    /// every element fits; `nil` otherwise.
    public var intValues: [Int]? {
        switch self {
        case .uint8(let a): a.map(Int.init)
        case .int8(let a): a.map(Int.init)
        case .uint16(let a): a.map(Int.init)
        case .int16(let a): a.map(Int.init)
        case .uint32(let a): a.map(Int.init)
        case .int32(let a): a.map(Int.init)
        case .int64(let a): a.map(Int.init)
        case .uint64(let a):
            a.allSatisfy { $0 <= UInt64(Int.max) } ? a.map { Int($0) } : nil
        default: nil
        }
    }

    /// The elements as `Double`s when the element type is numeric.
    public var doubleValues: [Double]? {
        switch self {
        case .float32(let a): a.map(Double.init)
        case .float64(let a): a
        default: intValues?.map(Double.init)
        }
    }

    /// The elements when this is an array of strings.
    public var stringValues: [String]? {
        if case .string(let a) = self { return a }
        return nil
    }

    /// Up to `limit` elements rendered for people (used by inspection reports).
    public func preview(limit: Int) -> [String] {
        func render<T>(_ a: [T], _ f: (T) -> String) -> [String] { a.prefix(limit).map(f) }
        switch self {
        case .uint8(let a): return render(a) { "\($0)" }
        case .int8(let a): return render(a) { "\($0)" }
        case .uint16(let a): return render(a) { "\($0)" }
        case .int16(let a): return render(a) { "\($0)" }
        case .uint32(let a): return render(a) { "\($0)" }
        case .int32(let a): return render(a) { "\($0)" }
        case .uint64(let a): return render(a) { "\($0)" }
        case .int64(let a): return render(a) { "\($0)" }
        case .float32(let a): return render(a) { "\($0)" }
        case .float64(let a): return render(a) { "\($0)" }
        case .bool(let a): return render(a) { "\($0)" }
        case .string(let a): return render(a) { GGUFArray.quoted($0) }
        case .array(let a): return render(a) { "array<\($0.elementType)>[\($0.count)]" }
        }
    }

    /// A string in double quotes with control characters escaped, so that
    /// tokens such as "\n" print on one line.
    static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
