import Foundation
import PPFPruning
import PPFWorkflows
import Testing

/// The `--policy` argument of `ppf prune` and `ppf predictor`.
@Test func policySourcesParseBaselinesAndFiles() throws {
    #expect(try PolicySource(parsing: "owl") == .baseline(.owl))
    #expect(try PolicySource(parsing: "llm-pruner") == .baseline(.llmPruner))
    #expect(try PolicySource(parsing: "file:/tmp/p.json") == .file(URL(fileURLWithPath: "/tmp/p.json")))
    #expect(#expect(throws: PruningError.self) { _ = try PolicySource(parsing: "file:") }?.code == .unknownName)
    #expect(#expect(throws: PruningError.self) { _ = try PolicySource(parsing: "magnitude") }?.code == .unknownName)
}
