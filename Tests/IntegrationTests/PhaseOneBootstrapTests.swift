import Foundation
import PPFContracts
import PPFStore
import PPFTestSupport
import Testing

/// Phase 1 end to end with the real executables (issue #5): two evaluators
/// and the predictor serve a tiny random model, and `ppf bootstrap` samples
/// policies, has them measured through the bus, and gets a predictor trained.
@Suite(.serialized, .timeLimit(.minutes(TestDeadlines.minutes(6)))) struct PhaseOneBootstrapTests {
    static let samples = 16
    /// The sensitivity profile's probes the bootstrap measures first: the dense model, then each of the
    /// 4 blocks alone at 3 attention levels, 3 MLP levels and dropped.
    static let probes = 1 + TinyModelFixture.blocks * 7
    /// Every request of the bootstrap.
    static let requests = samples + probes

    /// The bootstrap command of the test (the regime: magnitude plans, 64 tokens in windows of 32).
    static func bootstrapArguments(_ fixture: TinyModelFixture) -> [String] {
        ["bootstrap", "--samples", String(samples), "--tokens", "64", "--window", "32", "--metric", "magnitude",
         "--model-id", fixture.modelId, "--model", fixture.modelURL.path]
    }

    @Test func twoEvaluatorsMeasureEveryRequestOnceThePredictorTrainsAndARerunReusesEveryMeasurement() async throws {
        let fixture = try TinyModelFixture.make()
        defer { fixture.remove() }
        try await IsolatedDatabase.with { database in
            let stack = PhaseOneStack(database: database, fixture: fixture)
            let model = fixture.modelId
            var services: [ServiceProcess] = []
            do {
                let first = try await stack.startEvaluator("it-evaluator-a")
                services.append(first)
                let second = try await stack.startEvaluator("it-evaluator-b")
                services.append(second)
                // Ten is the predictor's minimum training set: a smaller threshold only adds
                // trainings that are skipped for too few samples.
                services.append(try await stack.startPredictor(retrainAfter: 10))

                // Both evaluators hold part of the 12 request partitions before any request exists,
                // so 16 requests keyed by random policy ids reach both (all on one side: p ≈ 2⁻¹⁵).
                let topic = Topic.evaluationRequests
                let split = try await eventually(within: .seconds(60)) {
                    let a = heldPartitions(of: topic, in: first.output), b = heldPartitions(of: topic, in: second.output)
                    return !a.isEmpty && !b.isEmpty && a.isDisjoint(with: b) && a.union(b).count == 12
                }
                #expect(split, "the evaluators should share the partitions: a \(heldPartitions(of: topic, in: first.output).sorted()), b \(heldPartitions(of: topic, in: second.output).sorted())")

                // 1. The bootstrap enqueues, waits for the measurements, asks for training and waits for it.
                let output = try await stack.ppf(Self.bootstrapArguments(fixture))
                print("ppf bootstrap (first run):\n\(output.suffix(1500))")
                #expect(output.contains("\(Self.samples) policies + \(Self.probes) sensitivity probes"))
                #expect(output.contains("\(Self.requests) in this regime (0 already measured, \(Self.requests) new, 0 re-published)"))
                #expect(output.contains("all \(Self.requests) requests measured"))
                // The version the bootstrap waited for is the one its train command asked for, on every
                // policy (not one the service trained on its own after 10 of the measurements). The probes
                // make its sensitivity profile, not samples.
                #expect(output.contains(": \(Self.samples) policies, trained"))
                let predictor = services[2]
                let profiled = try await eventually(within: .seconds(30)) {
                    predictor.output.contains("sensitivity profile of \(Self.probes) probes: 12 attention, 12 MLP, 4 drops")
                }
                #expect(profiled, "\(predictor.output.suffix(1500))")

                let requests = try await database.count("SELECT count(*)::int FROM evaluation_requests WHERE model_id = \(model)")
                #expect(requests == Self.requests)
                #expect(try await database.count("SELECT count(*)::int FROM measurements WHERE model_id = \(model)") == Self.requests)
                #expect(try await database.count("""
                    SELECT count(*)::int FROM evaluation_requests r
                     WHERE r.model_id = \(model)
                       AND (SELECT count(*) FROM measurements m WHERE m.request_id = r.id) <> 1
                    """) == 0, "every request has exactly one measurement")
                #expect(try await database.count("SELECT count(*)::int FROM outbox WHERE topic = \(Topic.measurements)") == Self.requests,
                        "one PerplexityMeasurement per request")
                let evaluators = try await database.count(
                    "SELECT count(DISTINCT evaluator_id)::int FROM measurements WHERE model_id = \(model)")
                #expect(evaluators == 2, "both evaluators measured some requests")
                for instance in ["it-evaluator-a", "it-evaluator-b"] {
                    let measured = try await database.count(
                        "SELECT count(*)::int FROM measurements WHERE model_id = \(model) AND evaluator_id = \(instance)")
                    print("\(instance) measured \(measured) of \(Self.requests)")
                }
                #expect(try await database.count("""
                    SELECT count(*)::int FROM predictor_versions WHERE model_id = \(model) AND sample_count = \(Self.samples)
                    """) >= 1, "a predictor version trained on every policy: \(services[2].output.suffix(2000))")
                #expect(try await database.count(
                    "SELECT count(DISTINCT policy_id)::int FROM evaluation_requests WHERE model_id = \(model)") == Self.requests)

                // 2. The same command again: nothing new is enqueued and every measurement is reused.
                let before = try await Self.snapshot(database, model: model)
                let rerun = try await stack.ppf(Self.bootstrapArguments(fixture))
                print("ppf bootstrap (rerun):\n\(rerun.suffix(800))")
                #expect(rerun.contains("\(Self.requests) in this regime (\(Self.requests) already measured, 0 new, 0 re-published)"))
                #expect(rerun.contains(": \(Self.samples) policies, trained"), "the rerun retrains on the same measurements")
                #expect(try await Self.snapshot(database, model: model) == before,
                        "the rerun stores no policy, request, outbox entry or measurement")

                for service in services { service.send(SIGTERM) }
                for service in services {
                    #expect(try await service.waitForExit() == .exited(0), "\(service.output.suffix(2000))")
                }
            } catch {
                for service in services { await service.stop() }
                throw error
            }
        }
    }

    /// What a bootstrap could add: policies, requests, request and measurement
    /// outbox entries, measurements (count and highest id).
    static func snapshot(_ database: IsolatedDatabase, model: String) async throws -> [Int] {
        [try await database.count("SELECT count(*)::int FROM policies WHERE model_id = \(model)"),
         try await database.count("SELECT count(*)::int FROM evaluation_requests WHERE model_id = \(model)"),
         try await database.count("SELECT count(*)::int FROM outbox WHERE topic = \(Topic.evaluationRequests)"),
         try await database.count("SELECT count(*)::int FROM outbox WHERE topic = \(Topic.measurements)"),
         try await database.count("SELECT count(*)::int FROM measurements WHERE model_id = \(model)"),
         try await database.count("SELECT coalesce(max(id), 0)::int FROM measurements WHERE model_id = \(model)")]
    }
}
