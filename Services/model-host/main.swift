// The `model-host` service: serves inference with the newest pruned model of its deployment and
// hot-swaps to each new plan without dropping a request.
//
// - Loads the base model (`PPF_MODEL_DIR`/`PPF_MODEL_FILE`); its deployment is `PPF_MODEL_ID`.
// - On start it restores the deployment's newest plan from PostgreSQL (else serves the dense model).
// - ppf.inference-requests, group `<prefix>model-host.<model id>`: perplexity of a text or a
//   greedy generation, answered on ppf.inference-replies with the correlation id and the model
//   version that answered ("dense" or the plan id); each answer is logged in `inference_log`.
// - ppf.plans, a group per instance: a newer plan is built off the serving path and swapped in
//   atomically (requests in flight finish on the old model, new ones use the new one); the swap
//   is recorded in `model_versions` and announced on ppf.model-host-status (outbox).
// - Requests outside the limits and plans it cannot serve are dead-lettered with the reason.
// Heartbeats carry the version serving, swaps since start and requests answered.
import PPFRuntime
import PPFWorkflows

let board = ServiceStatus(counters: ["swaps", "answered"], fields: ["model": "", "version": ""])
await ServiceMain.run(serviceName: "model-host", details: { board.details }) { context in
    return [ModelHostService(context: context, board: board)]
}
