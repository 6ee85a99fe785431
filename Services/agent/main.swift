// The `agent` service: answers ratio-change events with policies; retrains on new predictor versions.
//
// - ppf.predictor-versions: a model's newest predictor version gets an agent, trained against
//   it (reward −predicted log-ppl − κ·ensemble std, ratios PPF_AGENT_RATIOS, seed PPF_AGENT_SEED)
//   or loaded when stored; the version and its AgentVersionPublished commit together.
// - ppf.ratio-events: dynamic events are answered at once by the agent in memory (PolicyPublished
//   on ppf.pruned-policies); static events are searched with the predictor and their top-k
//   (PPF_AGENT_VERIFY_TOP_K) verified with true measurements, progress on ppf.search-progress.
//   An event that cannot be answered (unknown model, no predictor, ratio out of range) gets a
//   RatioEventRejected on ppf.ratio-rejections and a dead letter. One answer per event.
// On start it reconciles from PostgreSQL: agents for the newest predictor versions, then every
// ratio event without an outcome. Shapes come from the configured model's GGUF header
// (PPF_MODEL_ID, PPF_MODEL_DIR, PPF_MODEL_FILE).
import PPFRuntime
import PPFWorkflows

let status = ServiceStatus(counters: ["static-searches", "answered", "rejected"])
await ServiceMain.run(serviceName: "agent", details: { status.details }, defaultBLASThreads: 1) { context in
    return AgentServices.make(context: context, status: status)
}
