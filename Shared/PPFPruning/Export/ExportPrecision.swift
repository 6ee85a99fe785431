import PPFModel

// MARK: - ExportPrecision

/// The number format of exported weight matrices. Norm weights and biases
/// are always written in F32 (llama.cpp and HF both expect that, and they are
/// a negligible share of the bytes).
public enum ExportPrecision: String, Sendable, Codable, CaseIterable {
    /// IEEE binary32: the exported model is bit-identical to the engine's.
    case f32
    /// IEEE binary16: half the size; each weight rounds to 11 significant
    /// bits (relative error ≤ 2⁻¹¹), and |w| must stay ≤ 65 504.
    case f16
    /// bfloat16: half the size, F32's range, 8 significant bits.
    case bf16

    /// The default for exports: F16, which llama.cpp runs natively and which
    /// is far more precise than the 4-bit source checkpoints PPF prunes.
    public static let `default`: ExportPrecision = .f16

    /// The GGML tensor type of this precision.
    public var ggmlType: GGMLType {
        switch self {
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        }
    }

    /// `general.file_type` of a GGUF whose matrices use this precision
    /// (llama.cpp's `LLAMA_FTYPE_ALL_F32`, `MOSTLY_F16`, `MOSTLY_BF16`).
    public var ggufFileType: UInt32 {
        switch self {
        case .f32: 0
        case .f16: 1
        case .bf16: 32
        }
    }

    /// The largest finite magnitude the format stores.
    public var largestMagnitude: Float {
        switch self {
        case .f32, .bf16: .greatestFiniteMagnitude
        case .f16: 65_504
        }
    }

    /// Throws `unrepresentableValue` unless every value of `values` is finite
    /// and within range, so a weight never silently becomes ±∞ or NaN on disk.
    func checkRepresentable(_ values: [Float], tensor name: String) throws(ExportError) {
        let limit = largestMagnitude
        // A plain loop: this runs over every weight of the model and must vectorise.
        var worst: Float = 0
        var finite = true
        for v in values {
            finite = finite && v.isFinite
            worst = max(worst, abs(v))
        }
        guard finite else {
            throw ExportError(.unrepresentableValue, "tensor '\(name)' holds NaN or infinite values; the model is corrupt and cannot be exported")
        }
        guard worst <= limit else {
            throw ExportError(.unrepresentableValue,
                              "tensor '\(name)' has a weight of magnitude \(worst), beyond the \(rawValue.uppercased()) range ±\(limit); export with precision f32 or bf16")
        }
    }
}
