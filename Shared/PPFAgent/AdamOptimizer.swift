import Foundation

// MARK: - AdamOptimizer

/// Adam (Kingma & Ba 2015) over a flat parameter vector, with bias correction.
struct AdamOptimizer {
    private var firstMoment: [Float]
    private var secondMoment: [Float]
    private var step = 0
    let beta1: Float = 0.9
    let beta2: Float = 0.999
    let epsilon: Float = 1e-8

    init(parameterCount: Int) {
        firstMoment = [Float](repeating: 0, count: parameterCount)
        secondMoment = [Float](repeating: 0, count: parameterCount)
    }

    /// Moves `parameters` against `gradient` (a loss gradient) with step size `learningRate`.
    mutating func update(_ parameters: inout [Float], gradient: [Float], learningRate: Double) {
        precondition(parameters.count == gradient.count && gradient.count == firstMoment.count,
                     "Adam: parameter and gradient sizes differ")
        step += 1
        let correction1 = 1 - pow(beta1, Float(step))
        let correction2 = 1 - pow(beta2, Float(step))
        let rate = Float(learningRate)
        for index in parameters.indices {
            let g = gradient[index]
            firstMoment[index] = beta1 * firstMoment[index] + (1 - beta1) * g
            secondMoment[index] = beta2 * secondMoment[index] + (1 - beta2) * g * g
            let mHat = firstMoment[index] / correction1
            let vHat = secondMoment[index] / correction2
            parameters[index] -= rate * mHat / (vHat.squareRoot() + epsilon)
        }
    }
}
