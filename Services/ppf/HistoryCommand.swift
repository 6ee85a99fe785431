import ArgumentParser
import Foundation
import PPFStore

// MARK: - ppf history

/// `ppf history`: the audit trail of ratio events from Postgres (the
/// `ratio_event_history` view), as a table, JSON or CSV.
struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The audit trail: each ratio event with its policy, plan, predicted and measured perplexity, and the versions that produced them.",
        discussion: """
            Reads the ratio_event_history view (README.md, "Operations", lists it and the other views, \
            for psql). --since takes an ISO-8601 time (2026-11-29T06:00:00Z) or a duration back \
            from now (90s, 15m, 2h, 1d).
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case table, json, csv }

    @Option(help: "Only events newer than this (ISO-8601, or 15m / 2h / 1d ago).")
    var since: String?

    @Option(help: "Only events of this model.")
    var model: String?

    @Option(help: "Most events shown (newest last).")
    var limit: Int = 50

    @Option(help: "table, json or csv.")
    var format: Format = .table

    func run() async throws {
        let cutoff = try since.map(Self.parseSince) ?? Date(timeIntervalSince1970: 0)
        let connection = try await StoredAgents.connect()
        let rows = try await RatioEventHistoryRepository.recent(since: cutoff, modelId: model, limit: limit, on: connection)
        switch format {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(rows), as: UTF8.self))
        case .csv:
            print(Self.csv(rows))
        case .table:
            if rows.isEmpty {
                print("no ratio events\(since.map { " since \($0)" } ?? ""); emit one with `ppf ratio set 0.3`")
                return
            }
            print(Self.table(rows))
        }
    }

    // MARK: - Output

    static func number(_ value: Double?, _ format: String) -> String { value.map { String(format: format, $0) } ?? "–" }
    static func short(_ id: UUID?) -> String { id.map { String($0.uuidString.lowercased().prefix(8)) } ?? "–" }

    static func table(_ rows: [RatioEventHistoryEntry]) -> String {
        let time = ISO8601DateFormatter()
        var lines = ["| requested (UTC) | event | model | r | mode | status | achieved | predicted ppl (±σ log) | verified ppl | spot-check ppl | answer | plan | agent / predictor |",
                     "|---|---|---|---:|---|---|---:|---:|---:|---:|---:|---|---|"]
        for row in rows {
            let status = row.status == "rejected" ? "rejected (\(row.reason ?? "?"))" : row.status
            let predicted = row.predictedPerplexity.map {
                String(format: "%.2f", $0) + (row.predictedLogPerplexityStd.map { String(format: " ±%.3f", $0) } ?? "")
            } ?? "–"
            lines.append("| \(time.string(from: row.requestedAt)) | \(short(row.ratioEventId)) | \(row.modelId) | "
                         + String(format: "%.3f", row.targetRatio) + " | \(row.mode) | \(status) | "
                         + "\(number(row.achievedRatio, "%.4f")) | \(predicted) | \(number(row.verifiedPerplexity, "%.2f")) | "
                         + "\(number(row.spotCheckPerplexity, "%.2f")) | \(number(row.answerMilliseconds, "%.0f ms")) | "
                         + "\(short(row.planId)) | \(short(row.agentVersionId)) / \(short(row.predictorVersionId)) |")
        }
        return lines.joined(separator: "\n")
    }

    static func csv(_ rows: [RatioEventHistoryEntry]) -> String {
        let time = ISO8601DateFormatter()
        var lines = ["ratio_event_id,model_id,requested_at,target_ratio,mode,requested_by,status,reason,source,policy_id,"
                     + "achieved_ratio,predicted_perplexity,predicted_log_perplexity_std,verified_perplexity,"
                     + "spot_check_perplexity,answer_ms,plan_id,kept_parameters,total_parameters,agent_version_id,predictor_version_id"]
        func field(_ text: String?) -> String {
            guard let text else { return "" }
            return text.contains(",") || text.contains("\"") ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
        }
        func value(_ number: Double?) -> String { number.map { "\($0)" } ?? "" }
        func lowercased(_ id: UUID?) -> String { id?.uuidString.lowercased() ?? "" }
        for r in rows {
            lines.append([lowercased(r.ratioEventId), r.modelId, time.string(from: r.requestedAt), "\(r.targetRatio)", r.mode,
                          field(r.requestedBy), r.status, field(r.reason), field(r.source), lowercased(r.policyId),
                          value(r.achievedRatio), value(r.predictedPerplexity), value(r.predictedLogPerplexityStd),
                          value(r.verifiedPerplexity), value(r.spotCheckPerplexity), value(r.answerMilliseconds),
                          lowercased(r.planId), r.keptParameters.map(String.init) ?? "", r.totalParameters.map(String.init) ?? "",
                          lowercased(r.agentVersionId), lowercased(r.predictorVersionId)].joined(separator: ","))
        }
        return lines.joined(separator: "\n")
    }

    /// An ISO-8601 time, or a duration back from now (`90s`, `15m`, `2h`, `1d`).
    static func parseSince(_ text: String) throws -> Date {
        if let date = ISO8601DateFormatter().date(from: text) { return date }
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        if let unit = text.last, let scale = units[unit], let amount = Double(text.dropLast()), amount >= 0 {
            return Date().addingTimeInterval(-amount * scale)
        }
        throw ValidationError("--since must be an ISO-8601 time or a duration such as 15m, 2h, 1d; got '\(text)'")
    }
}

/// `ppf history --format json`: the entry's fields under their Swift names,
/// ids in lowercase as everywhere else in PPF's output, times in ISO 8601.
extension RatioEventHistoryEntry: Encodable {
    private enum CodingKeys: String, CodingKey {
        case ratioEventId, modelId, requestedAt, targetRatio, mode, requestedBy, status, reason, source, policyId
        case achievedRatio, predictedPerplexity, predictedLogPerplexityStd, verifiedPerplexity, spotCheckPerplexity
        case answerMilliseconds, planId, keptParameters, totalParameters, agentVersionId, predictorVersionId
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        func id(_ value: UUID?, _ key: CodingKeys) throws {
            try container.encodeIfPresent(value?.uuidString.lowercased(), forKey: key)
        }
        try id(ratioEventId, .ratioEventId)
        try container.encode(modelId, forKey: .modelId)
        try container.encode(requestedAt, forKey: .requestedAt)
        try container.encode(targetRatio, forKey: .targetRatio)
        try container.encode(mode, forKey: .mode)
        try container.encode(requestedBy, forKey: .requestedBy)
        try container.encode(status, forKey: .status)
        try container.encodeIfPresent(reason, forKey: .reason)
        try container.encodeIfPresent(source, forKey: .source)
        try id(policyId, .policyId)
        try container.encodeIfPresent(achievedRatio, forKey: .achievedRatio)
        try container.encodeIfPresent(predictedPerplexity, forKey: .predictedPerplexity)
        try container.encodeIfPresent(predictedLogPerplexityStd, forKey: .predictedLogPerplexityStd)
        try container.encodeIfPresent(verifiedPerplexity, forKey: .verifiedPerplexity)
        try container.encodeIfPresent(spotCheckPerplexity, forKey: .spotCheckPerplexity)
        try container.encodeIfPresent(answerMilliseconds, forKey: .answerMilliseconds)
        try id(planId, .planId)
        try container.encodeIfPresent(keptParameters, forKey: .keptParameters)
        try container.encodeIfPresent(totalParameters, forKey: .totalParameters)
        try id(agentVersionId, .agentVersionId)
        try id(predictorVersionId, .predictorVersionId)
    }
}
