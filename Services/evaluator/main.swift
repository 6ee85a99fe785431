// The `evaluator` service: measures the true perplexity of plans (scaled N× in one consumer group).
//
// At this stage it connects (PostgreSQL with retry and migrations, the broker
// with topic creation), publishes its outbox and heartbeats, and idles until
// SIGTERM/SIGINT. Its own consumers are added by later issues.
import PPFRuntime

await ServiceMain.run(serviceName: "evaluator") { _ in [] }
