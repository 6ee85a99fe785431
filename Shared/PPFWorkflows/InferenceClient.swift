import Foundation
import Logging
import PPFBus
import PPFContracts
import PPFRuntime

// MARK: - InferenceClient

/// Sends one ``InferenceRequest`` and waits for its ``InferenceReply``.
///
/// The reply consumer joins a group of its own that reads the reply topic
/// from its start, and is subscribed before the request is sent, so a fast
/// reply is never missed; replies are matched by key (the request id).
/// Asks the model-host deployment one inference question over the bus and
/// waits for its reply (`ppf infer`): a reply consumer of its own, joined
/// before the request is sent, so the latency is the round trip itself.
public struct InferenceClient: Sendable {
    /// The broker and identity to use.
    public let settings: Settings

    /// A client with `settings`.
    public init(settings: Settings) { self.settings = settings }

    /// The reply to `request` and the round-trip time (from sending to receiving).
    /// - Throws: ``UserFacingError`` when the broker is unreachable or no reply comes within `timeout`.
    /// Sends `request` and returns the reply and the round-trip time.
    /// - Throws: ``WorkflowError`` when the broker is unusable, the send fails, or no reply comes within `timeout`.
    public func ask(_ request: InferenceRequest, timeout: Duration) async throws -> (Envelope<InferenceReply>, Duration) {
        var kafka = KafkaConfiguration(bootstrapServers: settings.kafkaBrokers.split(separator: ",").map(String.init))
        kafka.autoOffsetReset = .earliest
        kafka.sessionTimeout = .milliseconds(settings.kafkaSessionTimeoutMilliseconds)
        kafka.logLevel = .error
        kafka.clientId = "ppf-infer"
        let logger = Logger(label: "ppf.infer")
        do {
            let topics = Topic.all.filter { [Topic.inferenceRequests, Topic.inferenceReplies].contains($0.name) }
            _ = try await KafkaAdmin.make(configuration: kafka, logger: logger)
                .createTopics(topics.map { TopicSpec(name: $0.name, partitions: $0.partitions) })
        } catch {
            throw WorkflowError("the broker at \(settings.kafkaBrokers) is not usable (\(error)); is the stack up? (`make up`)")
        }
        let consumer = try KafkaConsumer.make(configuration: kafka, groupId: "ppf-infer-\(UUID().uuidString.prefix(8))",
                                              topics: [Topic.inferenceReplies], logger: logger)
        let producer = try KafkaProducer.make(configuration: kafka, logger: logger)
        // Send once the reply group is joined (a few seconds), so the latency printed is the round trip itself.
        let joinDeadline = ContinuousClock.now + timeout
        while consumer.assignedPartitions.isEmpty, ContinuousClock.now < joinDeadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let key = request.requestId.uuidString.lowercased()
        let envelope = Envelope(correlationId: request.requestId, producer: "ppf/\(settings.instanceId)", payload: request,
                                messageId: request.requestId)
        let sent = ContinuousClock.now
        do {
            try await producer.send(envelope, to: Topic.inferenceRequests, key: key)
        } catch {
            await consumer.close()
            await producer.shutdown()
            throw WorkflowError("the request could not be sent: \(error)")
        }
        let reply = await withTaskGroup(of: Envelope<InferenceReply>?.self) { group in
            group.addTask {
                do {
                    for try await message in consumer.messages where message.keyString == key {
                        if let reply = try? Envelope<InferenceReply>.decode(message.value) { return reply }
                    }
                } catch {}
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        let latency = ContinuousClock.now - sent
        await consumer.close()
        await producer.shutdown()
        guard let reply else {
            throw WorkflowError("no reply to request \(key) within \(timeout); is a model-host serving '\(request.modelId)' running? (`ppf status`)")
        }
        return (reply, latency)
    }
}
