// MARK: - GGUFTensorInfo

/// The description of one tensor in a GGUF file.
///
/// GGUF lists ``dimensions`` innermost first: a tensor the file shows as
/// (576, 1536) has rows of 576 elements and 1536 rows, i.e. it is the
/// row-major matrix `[1536][576]` (out × in). ``shape`` gives the same
/// numbers outermost first, the order of the dequantized `[Float]` data.
public struct GGUFTensorInfo: Sendable, Equatable {
    /// The tensor's name, e.g. `blk.0.attn_q.weight`.
    public let name: String
    /// Dimensions innermost first, exactly as stored in the file.
    public let dimensions: [Int]
    /// The storage type.
    public let type: GGMLType
    /// Byte offset of the data, relative to the start of the data section.
    public let offset: Int

    /// Creates a description (used by the reader and by tests).
    public init(name: String, dimensions: [Int], type: GGMLType, offset: Int) {
        self.name = name
        self.dimensions = dimensions
        self.type = type
        self.offset = offset
    }

    /// Dimensions outermost first: `[rows, columns]` for a matrix.
    public var shape: [Int] { dimensions.reversed() }

    /// Total number of elements.
    public var elementCount: Int { dimensions.reduce(1, *) }

    /// Elements per row: the innermost dimension.
    public var rowLength: Int { dimensions.first ?? 1 }

    /// Number of rows: the product of all but the innermost dimension.
    public var rowCount: Int { dimensions.dropFirst().reduce(1, *) }

    /// Bytes one row occupies in the file.
    public var bytesPerRow: Int { rowLength / type.blockSize * type.bytesPerBlock }

    /// Bytes the whole tensor occupies in the file.
    public var byteCount: Int { rowCount * bytesPerRow }
}
