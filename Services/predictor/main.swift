// The `predictor` service: trains predictor versions from measurements and answers prediction requests.
//
// At this stage it connects (PostgreSQL with retry and migrations, the broker
// with topic creation), publishes its outbox and heartbeats, and idles until
// SIGTERM/SIGINT. Its own consumers are added by later issues.
import PPFRuntime

await ServiceMain.run(serviceName: "predictor") { _ in [] }
