// The `predictor` service: trains predictor versions from measurements and answers prediction requests.
//
// - ppf.measurements: notifications that the evaluator stored a measurement row;
//   retrains once `PPF_PREDICTOR_RETRAIN_AFTER` (default 32) new ones arrived for a model.
// - ppf.predictor-commands: `train` retrains a model now.
// - ppf.prediction-requests: answered on ppf.prediction-replies with the newest version.
// On start it reconciles from PostgreSQL: a model with enough untrained measurements is trained.
import PPFRuntime
import PPFWorkflows

await ServiceMain.run(serviceName: "predictor", defaultBLASThreads: 1) { context in
    let cache = PredictorCache()
    let trainer = PredictorTrainer(context: context, cache: cache)
    let responder = PredictionResponder(context: context, cache: cache)
    return PredictorConsumers.make(context: context, trainer: trainer, responder: responder)
}
