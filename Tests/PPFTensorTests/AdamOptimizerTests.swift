import Foundation
import PPFTensor
import Testing

// MARK: - AdamOptimizer

/// The gradient of `Σ c_i (p_i − t_i)²`.
private func quadraticGradient(_ p: [Float], centres: [Float], curvatures: [Float]) -> [Float] {
    p.indices.map { 2 * curvatures[$0] * (p[$0] - centres[$0]) }
}

@Test func adamMinimisesAnIllConditionedQuadratic() {
    // Curvatures over four decades: Adam's per-coordinate scaling should not care.
    let centres: [Float] = [1, -2, 0.5, 3]
    let curvatures: [Float] = [0.01, 1, 10, 100]
    var p: [Float] = [0, 0, 0, 0]
    var adam = AdamOptimizer(parameterCount: 4)
    for step in 0..<3000 {
        let rate = step < 2000 ? 0.05 : 0.005
        adam.update(&p, gradient: quadraticGradient(p, centres: centres, curvatures: curvatures), learningRate: rate)
    }
    #expect(adam.step == 3000)
    for (value, centre) in zip(p, centres) { #expect(abs(value - centre) < 1e-2, "\(p) should reach \(centres)") }
}

@Test func theFirstStepMovesByTheLearningRateWithEpsilonOnTheCorrectedMoment() {
    // At step 1, m̂ = g and √v̂ = |g|, so a gradient far above ε moves each
    // parameter by the learning rate against its sign, whatever its size.
    var adam = AdamOptimizer(parameterCount: 3)
    var p: [Float] = [0, 0, 0]
    adam.update(&p, gradient: [1000, -0.001, 1e-8], learningRate: 0.1)
    #expect(abs(p[0] + 0.1) < 1e-6)
    #expect(abs(p[1] - 0.1) < 1e-6)
    // g = ε: the step is η·g/(|g| + ε) = η/2 because ε is added to the
    // bias-corrected √v̂ (the folded form would give η·0.0316/1.0316 ≈ 0.003).
    #expect(abs(p[2] + 0.05) < 1e-4)
}

@Test func weightDecayShrinksOnlyTheMaskedParameters() {
    var adam = AdamOptimizer(parameterCount: 3, weightDecay: 0.5, decayMask: [true, false, true])
    var p: [Float] = [2, 2, -4]
    // A zero gradient leaves only the decay: p ← p − η·λ·p for masked entries.
    for _ in 0..<3 { adam.update(&p, gradient: [0, 0, 0], learningRate: 0.1) }
    let factor = Float(pow(1 - 0.1 * 0.5, 3.0))
    #expect(abs(p[0] - 2 * factor) < 1e-6)
    #expect(p[1] == 2)
    #expect(abs(p[2] + 4 * factor) < 1e-6)

    var everywhere = AdamOptimizer(parameterCount: 2, weightDecay: 0.5)
    var q: [Float] = [1, -1]
    everywhere.update(&q, gradient: [0, 0], learningRate: 0.1)
    #expect(abs(q[0] - 0.95) < 1e-7 && abs(q[1] + 0.95) < 1e-7, "no mask decays every parameter")
}

@Test func theArrayAndBufferVariantsAgreeBitForBit() {
    var generator = SeededGenerator(seed: 5)
    let count = 37
    let mask = (0..<count).map { $0 % 3 != 0 }
    var byArray = AdamOptimizer(parameterCount: count, beta1: 0.8, beta2: 0.99, epsilon: 1e-6, weightDecay: 0.1, decayMask: mask)
    var byBuffer = byArray
    var a = (0..<count).map { _ in Float(generator.nextUniform(in: -1..<1)) }
    var b = a
    let gradients = FloatBuffer(count: count)
    for step in 0..<20 {
        let g = (0..<count).map { _ in Float(generator.nextGaussian()) }
        for index in 0..<count { gradients.pointer[index] = g[index] }
        let rate = 0.01 * Double(step + 1)
        byArray.update(&a, gradient: g, learningRate: rate)
        byBuffer.update(&b, gradient: UnsafeBufferPointer(start: gradients.pointer, count: count), learningRate: rate)
    }
    #expect(a == b)
    #expect(a.contains { $0 != 0 })
}
