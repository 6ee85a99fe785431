// The `pruner` service: turns published policies into plans (and, on request, pruned checkpoints).
//
// - Loads the base model (`PPF_MODEL_DIR`/`PPF_MODEL_FILE`, id `PPF_MODEL_ID`) once at start.
// - On start it reconciles from PostgreSQL: every policy published for the model whose ratio
//   event has no plan is planned (the local broker forgets in-flight messages).
// - ppf.pruned-policies, group `<PPF_CONSUMER_GROUP_PREFIX>pruner`: each PolicyPublished is
//   planned with its importance metric; the `plans` row (kept heads, KV groups and channels per
//   block), its PlanPublished on ppf.plans (outbox) and the policy's achieved ratio are written
//   in one transaction, once per ratio event.
// - `PPF_PRUNER_EXPORT_DIR`: when set, each plan's pruned model is also written there as GGUF.
// - A policy for another model, an unknown metric, a policy with the wrong block count or
//   without its policies row is dead-lettered with the reason.
// Heartbeats carry the model id, the policy in hand and the number of plans stored.
import PPFRuntime
import PPFWorkflows

let status = ServiceStatus(counters: ["planned"], fields: ["model": ""])
await ServiceMain.run(serviceName: "pruner", details: { status.details }) { context in
    return [PrunerService(context: context, status: status)]
}
