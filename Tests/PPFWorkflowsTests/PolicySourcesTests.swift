import PPFContracts
import PPFWorkflows
import Testing

@Suite struct PolicySourcesTests {
    @Test func aSourceNamesItsKindAndTheRuleItDescendsFrom() {
        #expect(PolicySources.kind(of: "baseline:owl") == "baseline")
        #expect(PolicySources.kind(of: "sampler:random") == "random")
        #expect(PolicySources.kind(of: "sampler:perturbation:owl") == "perturbation")
        #expect(PolicySources.kind(of: "profile:mlp") == "profile")
        #expect(PolicySources.kind(of: "agent") == "agent")
        #expect(PolicySources.family(of: "baseline:llm-pruner") == "llm-pruner")
        #expect(PolicySources.family(of: PolicySources.perturbation(of: "owl")) == "owl")
        #expect(PolicySources.family(of: "sampler:perturbation") == nil)
        #expect(PolicySources.family(of: "sampler:random") == nil && PolicySources.family(of: "agent") == nil)
    }

    @Test func foldGroupsPutARuleItsOtherRatiosAndItsPerturbationsTogether() {
        func policy(_ attention: [Double]) -> PruningPolicy {
            PruningPolicy(layers: attention.map { LayerPolicy(attentionRatio: $0, mlpRatio: 0.2, dropped: false) })
        }
        let front = [0.1, 0.2, 0.3, 0.4], back = [0.4, 0.3, 0.2, 0.1]
        let sources = ["a": "baseline:front", "b": "baseline:back", "c": "baseline:front",
                       "d": "sampler:perturbation:back", "e": "sampler:perturbation", "f": "sampler:random", "g": "agent"]
        let policies = ["a": policy(front), "b": policy(back), "c": policy(front.map { $0 + 0.2 }),
                        "d": policy(back), "e": policy([0.45, 0.3, 0.25, 0.1]), "f": policy(front), "g": policy(back)]
        let groups = PolicySources.foldGroups(ids: ["a", "b", "c", "d", "e", "f", "g"], sources: sources, policies: policies)
        #expect(groups == ["family:front", "family:back", "family:front", "family:back",
                           // A legacy perturbation joins the rule whose shape is nearest.
                           "family:back", "f", "g"])
    }
}
