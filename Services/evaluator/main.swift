// The `evaluator` service: measures the true perplexity of pruning policies (scaled N× in one consumer group).
//
// - Loads the base model (`PPF_MODEL_DIR`/`PPF_MODEL_FILE`, id `PPF_MODEL_ID`) once at start.
// - ppf.evaluation-requests, group `<PPF_CONSUMER_GROUP_PREFIX>evaluators`: each request is
//   planned, applied and measured; the `measurements` row, its PerplexityMeasurement on
//   ppf.measurements (outbox) and the policy's achieved ratio are written in one transaction.
// - A request for another model, an unknown split or metric, or a policy with the wrong
//   block count is dead-lettered with the reason.
// Heartbeats carry the model id, the request in hand and its progress.
import PPFRuntime
import PPFWorkflows

let status = ServiceStatus(counters: ["measured"], fields: ["model": ""])
await ServiceMain.run(serviceName: "evaluator", details: { status.details }) { context in
    // Several evaluators on few cores oversubscribe them; the stack sets PPF_BLAS_THREADS=1 each.
    return [EvaluatorService(context: context, status: status)]
}
