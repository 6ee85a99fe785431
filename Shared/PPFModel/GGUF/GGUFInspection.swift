// MARK: - GGUFInspection

/// What `ppf inspect <file>` prints: the metadata (arrays summarised), a
/// tensor table, and parameter counts per kind of weight.
public enum GGUFInspection {
    /// The role a tensor plays in a LLaMA-family checkpoint, from its GGUF name.
    public enum ParameterKind: String, Sendable, CaseIterable {
        case embedding = "embedding"
        case attentionQuery = "attention q"
        case attentionKey = "attention k"
        case attentionValue = "attention v"
        case attentionOutput = "attention o"
        case mlpGate = "mlp gate"
        case mlpUp = "mlp up"
        case mlpDown = "mlp down"
        case norm = "norms"
        case outputHead = "output head"
        case other = "other"

        /// The kind of the tensor called `name` (llama.cpp's GGUF tensor names).
        public init(tensorName name: String) {
            if name.hasPrefix("token_embd.") { self = .embedding }
            else if name.hasPrefix("output.") { self = .outputHead }
            else if name.contains(".attn_q.") { self = .attentionQuery }
            else if name.contains(".attn_k.") { self = .attentionKey }
            else if name.contains(".attn_v.") { self = .attentionValue }
            else if name.contains(".attn_output.") { self = .attentionOutput }
            else if name.contains(".ffn_gate.") { self = .mlpGate }
            else if name.contains(".ffn_up.") { self = .mlpUp }
            else if name.contains(".ffn_down.") { self = .mlpDown }
            else if name.contains("norm") { self = .norm }
            else { self = .other }
        }

        /// Whether the paper counts this kind as prunable (attention and MLP projections).
        public var isPrunable: Bool {
            switch self {
            case .attentionQuery, .attentionKey, .attentionValue, .attentionOutput, .mlpGate, .mlpUp, .mlpDown: true
            default: false
            }
        }
    }

    /// Element counts per kind, summed over all tensors of `file`.
    public static func parameterCounts(for file: GGUFFile) -> [ParameterKind: Int] {
        var counts: [ParameterKind: Int] = [:]
        for t in file.tensors { counts[ParameterKind(tensorName: t.name), default: 0] += t.elementCount }
        return counts
    }

    /// The full human-readable report.
    public static func report(for file: GGUFFile) -> String {
        var lines: [String] = []
        lines.append("GGUF v\(file.version)  \(file.url.lastPathComponent)  \(bytes(file.fileSize))  alignment \(file.alignment)  data at byte \(file.dataOffset)")

        // MARK: Metadata
        lines.append("")
        lines.append("Metadata (\(file.metadata.count) keys)")
        let keyWidth = min(48, file.metadata.keys.map(\.count).max() ?? 0)
        for entry in file.metadata.entries {
            let (type, value) = describe(entry.value)
            lines.append("  " + pad(entry.key, keyWidth) + "  " + pad(type, 16) + "  " + value)
        }

        // MARK: Tensors
        lines.append("")
        lines.append("Tensors (\(file.tensors.count))")
        let nameWidth = max(4, file.tensors.map(\.name.count).max() ?? 0)
        lines.append("  " + pad("name", nameWidth) + "  " + pad("type", 7) + "  " + pad("shape (outer × inner)", 22) + "  " + leftPad("bytes", 12))
        for t in file.tensors {
            let shape = t.shape.map(String.init).joined(separator: " × ")
            lines.append("  " + pad(t.name, nameWidth) + "  " + pad(t.type.description, 7) + "  " + pad(shape, 22) + "  " + leftPad(grouped(t.byteCount), 12))
        }
        var byType: [GGMLType: (count: Int, bytes: Int)] = [:]
        for t in file.tensors { byType[t.type, default: (0, 0)].count += 1; byType[t.type, default: (0, 0)].bytes += t.byteCount }
        let typeSummary = byType.sorted { $0.value.bytes > $1.value.bytes }
            .map { "\($0.key) ×\($0.value.count) (\(bytes($0.value.bytes)))" }
        lines.append("  by type: " + typeSummary.joined(separator: ", "))

        // MARK: Parameters
        let counts = parameterCounts(for: file)
        let total = counts.values.reduce(0, +)
        lines.append("")
        lines.append("Parameters by kind")
        for kind in ParameterKind.allCases {
            let n = counts[kind] ?? 0
            if kind == .other && n == 0 { continue }
            var note = ""
            if kind == .outputHead && n == 0 && counts[.embedding] != nil { note = "  (tied to the embedding)" }
            lines.append("  " + pad(kind.rawValue, 14) + leftPad(grouped(n), 14) + "  " + percent(n, of: total) + note)
        }
        let prunable = counts.filter { $0.key.isPrunable }.values.reduce(0, +)
        lines.append("  " + pad("prunable", 14) + leftPad(grouped(prunable), 14) + "  " + percent(prunable, of: total) + "  (attention + MLP projections)")
        lines.append("  " + pad("total", 14) + leftPad(grouped(total), 14))
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: - Formatting

    /// The type column and a one-line rendering of `value`; arrays show
    /// their element type, length and first few elements.
    static func describe(_ value: GGUFValue) -> (type: String, value: String) {
        switch value {
        case .string(let s): return ("string", shortened(GGUFArray.quoted(s), 96))
        case .array(let a):
            let items = a.preview(limit: 3).map { shortened($0, 32) }
            let more = a.count > items.count ? ", …" : ""
            return ("array<\(a.elementType)>", "[\(a.count)] [" + items.joined(separator: ", ") + more + "]")
        case .bool(let b): return ("bool", "\(b)")
        case .float32(let f): return ("float32", "\(f)")
        case .float64(let f): return ("float64", "\(f)")
        default: return (value.type.description, value.intValue.map { "\($0)" } ?? "\(value)")
        }
    }

    static func shortened(_ s: String, _ limit: Int) -> String {
        s.count <= limit ? s : String(s.prefix(limit - 1)) + "…"
    }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }

    static func leftPad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
    }

    /// `134515008` → `134,515,008`.
    static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }

    static func bytes(_ n: Int) -> String {
        let mb = Double(n) / 1_048_576, kb = Double(n) / 1024
        if mb >= 1 { return "\(Double(Int(mb * 10)) / 10) MiB" }
        return kb >= 1 ? "\(Double(Int(kb * 10)) / 10) KiB" : "\(n) bytes"
    }

    static func percent(_ n: Int, of total: Int) -> String {
        guard total > 0 else { return "" }
        let p = Double(n) * 100 / Double(total)
        return leftPad("\(Double(Int(p * 10 + 0.5)) / 10)%", 6)
    }
}
