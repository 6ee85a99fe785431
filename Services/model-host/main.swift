// The `model-host` service: serves inference with the newest pruned model; hot-swaps on new policies (issue: the running system).
//
// At this stage it connects (PostgreSQL with retry and migrations, the broker
// with topic creation), publishes its outbox and heartbeats, and idles until
// SIGTERM/SIGINT. Its own consumers are added by later issues.
import PPFRuntime

await ServiceMain.run(serviceName: "model-host") { _ in [] }
