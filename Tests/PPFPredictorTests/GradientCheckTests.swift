import Testing
@testable import PPFPredictor

// MARK: - Gradient check

/// Finite differences against the hand-written backward pass, tensor by tensor.
struct GradientCheck {
    let network: ConvolutionalNetwork
    let parameters: [Float]
    let batch: Int
    let pass: ConvolutionalNetwork.Pass
    /// Random weights of the probe loss `Σ_b c_b · output_b`, so ∂loss/∂output = c.
    let outputWeights: [Float]

    init(architecture: NetworkArchitecture, layers: Int = 6, channels: Int = 5, globals: Int = 2,
         batch: Int = 4, seed: UInt64) throws {
        let shape = try NetworkShape(architecture: architecture, layerCount: layers, inputChannels: channels, globalCount: globals)
        network = ConvolutionalNetwork(shape: shape)
        var random = RandomStream(seed: seed)
        var values = NetworkParameters(shape: shape, seed: seed).values
        // Non-zero biases, so bias paths are exercised away from zero.
        for tensor in shape.tensors where tensor.cols == 1 {
            for index in tensor.offset..<(tensor.offset + tensor.count) { values[index] = Float(0.3 * random.normal()) }
        }
        parameters = values
        self.batch = batch
        pass = network.makePass(capacity: batch)
        for index in 0..<(batch * layers * channels) { pass.input.pointer[index] = Float(random.normal()) }
        for index in 0..<(batch * globals) { pass.globals.pointer[index] = Float(random.normal()) }
        outputWeights = (0..<batch).map { _ in Float(random.normal()) }
    }

    /// The probe loss at `values`, accumulated in Double.
    func loss(_ values: [Float]) -> Double {
        values.withUnsafeBufferPointer { network.forward(pass, batch: batch, parameters: $0.baseAddress!) }
        return (0..<batch).reduce(0) { $0 + Double(outputWeights[$1]) * Double(pass.output.pointer[$1]) }
    }

    /// The backward pass's gradient of the probe loss.
    func analyticGradient() -> [Float] {
        var gradient = [Float](repeating: .nan, count: parameters.count)
        parameters.withUnsafeBufferPointer { p in
            network.forward(pass, batch: batch, parameters: p.baseAddress!)
            outputWeights.withUnsafeBufferPointer { c in
                gradient.withUnsafeMutableBufferPointer { g in
                    network.backward(pass, batch: batch, parameters: p.baseAddress!,
                                     outputGradient: c.baseAddress!, into: g.baseAddress!)
                }
            }
        }
        return gradient
    }

    /// Central differences of the probe loss for every parameter.
    func numericGradient(step: Float = 1e-3) -> [Float] {
        var values = parameters
        return parameters.indices.map { index in
            let original = values[index]
            values[index] = original + step
            let plus = loss(values)
            values[index] = original - step
            let minus = loss(values)
            values[index] = original
            return Float((plus - minus) / Double(2 * step))
        }
    }

    /// `‖numeric − analytic‖ / (‖numeric‖ + ‖analytic‖)` per tensor name.
    func relativeErrors(analytic: [Float], numeric: [Float]) -> [String: Double] {
        var result: [String: Double] = [:]
        for tensor in network.shape.tensors {
            var difference = 0.0, normA = 0.0, normN = 0.0
            for index in tensor.offset..<(tensor.offset + tensor.count) {
                let a = Double(analytic[index]), n = Double(numeric[index])
                difference += (a - n) * (a - n)
                normA += a * a
                normN += n * n
            }
            result[tensor.name] = difference.squareRoot() / max(1e-12, normA.squareRoot() + normN.squareRoot())
        }
        return result
    }
}

@Test(arguments: [(Activation.gelu, UInt64(11)), (.gelu, 12), (.gelu, 13), (.relu, 14)])
func backwardPassMatchesFiniteDifferencesForEveryTensor(activation: Activation, seed: UInt64) throws {
    let check = try GradientCheck(architecture: NetworkArchitecture(kernelSize: 3, convolutionChannels: [4, 3],
                                                                    headWidth: 5, activation: activation), seed: seed)
    let errors = check.relativeErrors(analytic: check.analyticGradient(), numeric: check.numericGradient())
    #expect(errors.count == check.network.shape.tensors.count)
    for (name, error) in errors.sorted(by: { $0.key < $1.key }) {
        #expect(error < 1e-2, "\(activation) seed \(seed): \(name) relative error \(error)")
    }
}

@Test func gradientCheckCatchesATransposedWeightGradient() throws {
    let check = try GradientCheck(architecture: NetworkArchitecture(convolutionChannels: [4, 3], headWidth: 5), seed: 21)
    var analytic = check.analyticGradient()
    // Store conv2.weight's gradient transposed, the classic backward bug.
    let tensor = try #require(check.network.shape.tensors.first { $0.name == "conv2.weight" })
    let original = Array(analytic[tensor.offset..<(tensor.offset + tensor.count)])
    for r in 0..<tensor.rows {
        for c in 0..<tensor.cols {
            let transposedIndex = c * tensor.rows + r
            analytic[tensor.offset + transposedIndex] = original[r * tensor.cols + c]
        }
    }
    let errors = check.relativeErrors(analytic: analytic, numeric: check.numericGradient())
    #expect(try #require(errors["conv2.weight"]) > 0.1)
    #expect(try #require(errors["conv1.weight"]) < 1e-2)
}

@Test func deeperAndWiderKernelsAlsoPassTheGradientCheck() throws {
    let check = try GradientCheck(architecture: NetworkArchitecture(kernelSize: 5, convolutionChannels: [3, 4, 2], headWidth: 4),
                                  layers: 7, channels: 3, globals: 0, batch: 3, seed: 31)
    let errors = check.relativeErrors(analytic: check.analyticGradient(), numeric: check.numericGradient())
    for (name, error) in errors { #expect(error < 1e-2, "\(name) relative error \(error)") }
}

@Test func trainingLossGradientMatchesFiniteDifferences() {
    let loss = TrainingLoss(rankingWeight: 0.7, temperature: 0.3)
    let targets: [Float] = [0.5, -1.2, 0.5, 2.0, -0.3]
    let predictions: [Float] = [0.1, -0.9, 0.8, 1.1, 0.2]
    var analytic = [Float](repeating: 0, count: 5)
    _ = loss.evaluate(predictions: predictions, targets: targets, count: 5, gradient: &analytic)
    for index in 0..<5 {
        var plus = predictions, minus = predictions
        plus[index] += 1e-2
        minus[index] -= 1e-2
        let numeric = (loss.evaluate(predictions: plus, targets: targets, count: 5, gradient: nil)
            - loss.evaluate(predictions: minus, targets: targets, count: 5, gradient: nil)) / 2e-2
        #expect(abs(Double(analytic[index]) - numeric) < 1e-3 * max(1, abs(numeric)), "output \(index)")
    }
}

@Test func plainMeanPoolingAlsoPassesTheGradientCheck() throws {
    let check = try GradientCheck(architecture: NetworkArchitecture(convolutionChannels: [4, 3], headWidth: 5,
                                                                    depthWeightedPooling: false), seed: 41)
    #expect(!check.network.shape.tensors.contains { $0.name == "pool.depthWeight" })
    let errors = check.relativeErrors(analytic: check.analyticGradient(), numeric: check.numericGradient())
    for (name, error) in errors { #expect(error < 1e-2, "\(name) relative error \(error)") }
}
