// The `agent` service: answers ratio-change events with policies; retrains on new predictor versions.
//
// At this stage it connects (PostgreSQL with retry and migrations, the broker
// with topic creation), publishes its outbox and heartbeats, and idles until
// SIGTERM/SIGINT. Its own consumers are added by later issues.
import PPFRuntime

await ServiceMain.run(serviceName: "agent") { _ in [] }
