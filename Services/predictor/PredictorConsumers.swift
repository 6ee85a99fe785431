import PPFBus
import PPFContracts
import PPFRuntime
import PPFWorkflows

// MARK: - Consumers

/// The predictor's three consumers, each in its own group (prefixed with
/// `PPF_CONSUMER_GROUP_PREFIX`). Bad messages (malformed, unknown schema
/// version, values out of range) are dead-lettered by ``EnvelopeConsumerService``.
enum PredictorConsumers {
    static func make(context: ServiceContext, trainer: PredictorTrainer,
                     responder: PredictionResponder) -> [any PPFService] {
        let prefix = context.settings.consumerGroupPrefix
        let measurements = EnvelopeConsumerService<PerplexityMeasurement>(
            context: context, groupId: prefix + "predictor.measurements", topic: Topic.measurements
        ) { envelope, _ in
            try envelope.payload.validate()
            try await trainer.measurementArrived(envelope)
        }
        let commands = EnvelopeConsumerService<PredictorCommand>(
            context: context, groupId: prefix + "predictor.commands", topic: Topic.predictorCommands
        ) { envelope, _ in
            try envelope.payload.validate()
            try await trainer.commanded(envelope)
        }
        let requests = EnvelopeConsumerService<PredictionRequest>(
            context: context, groupId: prefix + "predictor.prediction-requests", topic: Topic.predictionRequests
        ) { envelope, _ in
            try envelope.payload.validate()
            try await responder.answer(envelope)
        }
        return [ReconcileThenConsume(trainer: trainer, consumer: measurements), commands, requests]
    }
}

/// Reconciles from PostgreSQL before consuming measurements (design.md: the
/// local broker forgets its topics, so notifications may have been lost):
/// every model with enough untrained measurements is trained first.
struct ReconcileThenConsume: PPFService {
    let name = "measurements"
    let trainer: PredictorTrainer
    let consumer: EnvelopeConsumerService<PerplexityMeasurement>

    func run() async throws {
        try await trainer.reconcile()
        try await consumer.run()
    }
}
