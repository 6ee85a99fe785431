import PPFTensor

// MARK: - MemberTrainingSummary

/// How one ensemble member's training went (deterministic, stored with the model).
public struct MemberTrainingSummary: Codable, Sendable, Hashable {
    /// The member's seed (initialisation, fold, resample, batch order).
    public let seed: UInt64
    /// Samples in its training fold (before the bootstrap resample).
    public let trainingCount: Int
    /// Samples in its validation fold.
    public let validationCount: Int
    /// Epochs run before early stopping (or `maxEpochs`).
    public let epochsRun: Int
    /// The epoch (1-based) whose weights were kept.
    public let bestEpoch: Int
    /// The validation loss of the kept weights (standardised units).
    public let bestValidationLoss: Double
}

// MARK: - MemberTrainer

/// Trains one ensemble member: its own validation fold and bootstrap resample,
/// Adam with the learning-rate schedule, early stopping on the validation loss,
/// and the best weights restored at the end.
struct MemberTrainer {
    let network: ConvolutionalNetwork
    let hyperparameters: PredictorHyperparameters
    let data: PreparedData

    /// Trains from `seed`; returns the best weights and a summary.
    func train(seed: UInt64) -> (NetworkParameters, MemberTrainingSummary) {
        var random = RandomStream(seed: seed)
        let order = random.permutation(data.count)
        let validationCount = min(data.count - 2, max(2, Int((hyperparameters.validationFraction * Double(data.count)).rounded())))
        let validation = Array(order.prefix(validationCount))
        let fold = Array(order.dropFirst(validationCount))
        var training = fold
        if hyperparameters.bootstrap {
            training = fold.indices.map { _ in fold[random.index(below: fold.count)] }
        }

        var parameters = NetworkParameters(shape: network.shape, seed: RandomStream.derivedSeed(seed, 0x1A17))
        var optimizer = AdamOptimizer(shape: network.shape, hyperparameters: hyperparameters)
        let loss = TrainingLoss(rankingWeight: hyperparameters.rankingLossWeight, temperature: hyperparameters.rankingTemperature)
        let batchSize = min(hyperparameters.batchSize, training.count)
        let trainPass = network.makePass(capacity: batchSize)
        let validationPass = network.makePass(capacity: validation.count)
        let batchTargets = FloatBuffer(count: batchSize)
        let validationTargets = FloatBuffer(count: validation.count)
        let outputGradient = FloatBuffer(count: batchSize)
        let gradient = FloatBuffer(count: network.shape.parameterCount)
        data.load(validation, into: validationPass, targets: validationTargets.pointer)

        func validationLoss(_ values: [Float]) -> Double {
            values.withUnsafeBufferPointer { p -> Double in
                guard let base = p.baseAddress else { return .infinity }
                network.forward(validationPass, batch: validation.count, parameters: base)
                return loss.evaluate(predictions: validationPass.output.pointer, targets: validationTargets.pointer,
                                     count: validation.count, gradient: nil)
            }
        }

        // Epoch 0 is the initialisation, so the kept weights always have a finite loss.
        var best = parameters.values
        var bestLoss = validationLoss(best)
        var bestEpoch = 0
        var epochsRun = 0
        for epoch in 0..<hyperparameters.maxEpochs {
            epochsRun = epoch + 1
            let rate = hyperparameters.learningRate(atEpoch: epoch)
            random.shuffle(&training)
            var start = 0
            while start < training.count {
                let batch = min(batchSize, training.count - start)
                data.load(training[start..<(start + batch)], into: trainPass, targets: batchTargets.pointer)
                parameters.values.withUnsafeBufferPointer { p in
                    guard let base = p.baseAddress else { return }
                    network.forward(trainPass, batch: batch, parameters: base)
                    _ = loss.evaluate(predictions: trainPass.output.pointer, targets: batchTargets.pointer,
                                      count: batch, gradient: outputGradient.pointer)
                    network.backward(trainPass, batch: batch, parameters: base,
                                     outputGradient: outputGradient.pointer, into: gradient.pointer)
                }
                optimizer.update(&parameters.values, gradient: UnsafeBufferPointer(start: gradient.pointer, count: gradient.count),
                                 learningRate: rate)
                start += batch
            }

            let current = validationLoss(parameters.values)
            // A diverged member stops at once; its best finite weights are kept.
            guard current.isFinite else { break }
            if current < bestLoss {
                bestLoss = current
                bestEpoch = epoch + 1
                best = parameters.values
            } else if epoch + 1 - bestEpoch >= hyperparameters.patience {
                break
            }
        }
        parameters.values = best
        let summary = MemberTrainingSummary(seed: seed, trainingCount: fold.count, validationCount: validation.count,
                                            epochsRun: epochsRun, bestEpoch: bestEpoch, bestValidationLoss: bestLoss)
        return (parameters, summary)
    }
}
