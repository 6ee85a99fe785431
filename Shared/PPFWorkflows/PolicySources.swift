import Foundation
import PPFContracts

// MARK: - PolicySources

/// What `policies.source` says about a policy: its kind (for per-kind
/// metrics) and its family (for grouped cross-validation).
///
/// Sources are `baseline:<rule>` (a hand-made policy), `sampler:<kind>` or
/// `sampler:perturbation:<rule>` (a perturbation of that rule's policies,
/// written since the family was recorded), `profile:<kind>` (the sensitivity
/// probes), `agent` and others.
public enum PolicySources {
    /// The source of a sampler perturbation of `rule`'s hand-made policies.
    public static func perturbation(of rule: String) -> String { "sampler:perturbation:\(rule)" }

    /// The kind of policy a source names: `baseline`, the sampler's kind
    /// (`random`, `perturbation`, `block-drop`), or the source's first part (`agent`, `profile`, …).
    public static func kind(of source: String) -> String {
        let parts = source.split(separator: ":", omittingEmptySubsequences: false)
        guard let first = parts.first else { return source }
        return first == "sampler" && parts.count > 1 ? String(parts[1]) : String(first)
    }

    /// The hand-made rule a source descends from (`baseline:<rule>`,
    /// `sampler:perturbation:<rule>`), or nil.
    public static func family(of source: String) -> String? {
        if source.hasPrefix("baseline:") { return String(source.dropFirst("baseline:".count)) }
        let prefix = perturbation(of: "")
        if source.hasPrefix(prefix), source.count > prefix.count { return String(source.dropFirst(prefix.count)) }
        return nil
    }

    /// A fold group per sample id: `family:<rule>` for a hand-made policy
    /// at any ratio and every perturbation of it, the id itself otherwise, so
    /// grouped cross-validation never scores a fold on near copies of what trained it.
    ///
    /// A perturbation stored before its family was recorded (source
    /// `sampler:perturbation`) joins the rule whose policies' shape (per-block
    /// ratios about their mean) it is closest to: the sampler keeps a seed's
    /// shape and moves its ratio.
    public static func foldGroups(ids: [String], sources: [String: String], policies: [String: PruningPolicy]) -> [String] {
        var shapes: [(rule: String, shape: [Double])] = []
        for id in ids {
            guard let source = sources[id], source.hasPrefix("baseline:"), let rule = family(of: source),
                  let policy = policies[id] else { continue }
            shapes.append((rule, shape(of: policy)))
        }
        return ids.map { id in
            let source = sources[id] ?? ""
            if let rule = family(of: source) { return "family:\(rule)" }
            if source == "sampler:perturbation", let policy = policies[id] {
                let mine = shape(of: policy)
                if let nearest = shapes.min(by: { distance($0.shape, mine) < distance($1.shape, mine) }) {
                    return "family:\(nearest.rule)"
                }
            }
            return id
        }
    }

    /// Per-block attention and MLP ratios (a dropped block counts as 1) about their means.
    private static func shape(of policy: PruningPolicy) -> [Double] {
        let attention = policy.layers.map { $0.dropped ? 1 : $0.attentionRatio }
        let mlp = policy.layers.map { $0.dropped ? 1 : $0.mlpRatio }
        func centred(_ values: [Double]) -> [Double] {
            let mean = values.reduce(0, +) / Double(max(1, values.count))
            return values.map { $0 - mean }
        }
        return centred(attention) + centred(mlp)
    }

    private static func distance(_ a: [Double], _ b: [Double]) -> Double {
        guard a.count == b.count else { return .infinity }
        return zip(a, b).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
    }
}
