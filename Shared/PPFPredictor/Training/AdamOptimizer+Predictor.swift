import PPFTensor

// MARK: - The predictor's optimiser settings

extension AdamOptimizer {
    /// PPFTensor's Adam configured from the predictor's hyperparameters, with
    /// weight decay on the tensors `shape` marks as decaying (weights) and not
    /// on the rest (biases, depth weights), as AdamW prescribes.
    init(shape: NetworkShape, hyperparameters: PredictorHyperparameters) {
        var mask = [Bool](repeating: false, count: shape.parameterCount)
        for tensor in shape.tensors where tensor.decays {
            for index in tensor.offset..<(tensor.offset + tensor.count) { mask[index] = true }
        }
        self.init(parameterCount: shape.parameterCount, beta1: hyperparameters.beta1, beta2: hyperparameters.beta2,
                  epsilon: hyperparameters.epsilon, weightDecay: hyperparameters.weightDecay, decayMask: mask)
    }
}
