import Foundation

// MARK: - AdamOptimizer

/// Adam (Kingma & Ba 2015) with decoupled weight decay (AdamW, Loshchilov &
/// Hutter 2019) over one flat parameter vector.
struct AdamOptimizer {
    private let beta1: Double
    private let beta2: Double
    private let epsilon: Double
    private let weightDecay: Double
    /// 1 where weight decay applies (weights), 0 elsewhere (biases, depth weights).
    private let decayMask: [Float]
    private var firstMoment: [Float]
    private var secondMoment: [Float]
    private var step = 0

    init(shape: NetworkShape, hyperparameters: PredictorHyperparameters) {
        beta1 = hyperparameters.beta1
        beta2 = hyperparameters.beta2
        epsilon = hyperparameters.epsilon
        weightDecay = hyperparameters.weightDecay
        var mask = [Float](repeating: 0, count: shape.parameterCount)
        for tensor in shape.tensors where tensor.decays {
            for index in tensor.offset..<(tensor.offset + tensor.count) { mask[index] = 1 }
        }
        decayMask = mask
        firstMoment = [Float](repeating: 0, count: shape.parameterCount)
        secondMoment = [Float](repeating: 0, count: shape.parameterCount)
    }

    /// One update of `parameters` along `gradient` with step size `learningRate`.
    mutating func update(_ parameters: inout [Float], gradient: UnsafePointer<Float>, learningRate: Double) {
        step += 1
        let b1 = Float(beta1), b2 = Float(beta2)
        // Bias corrections folded into the step size.
        let correctedRate = Float(learningRate * (1 - pow(beta2, Double(step))).squareRoot() / (1 - pow(beta1, Double(step))))
        let decay = Float(learningRate * weightDecay)
        let eps = Float(epsilon)
        let count = parameters.count
        parameters.withUnsafeMutableBufferPointer { p in
            firstMoment.withUnsafeMutableBufferPointer { m in
                secondMoment.withUnsafeMutableBufferPointer { v in
                    decayMask.withUnsafeBufferPointer { mask in
                        for i in 0..<count {
                            let g = gradient[i]
                            m[i] = b1 * m[i] + (1 - b1) * g
                            v[i] = b2 * v[i] + (1 - b2) * g * g
                            p[i] -= correctedRate * m[i] / (v[i].squareRoot() + eps) + decay * mask[i] * p[i]
                        }
                    }
                }
            }
        }
    }
}
