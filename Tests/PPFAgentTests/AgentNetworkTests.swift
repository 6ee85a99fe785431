import Foundation
@testable import PPFAgent
import PPFTensor
import Testing

// MARK: - Backward pass matches finite differences

@Test func backwardMatchesFiniteDifferencesOfTheForwardPass() throws {
    var network = try AgentNetwork(hiddenWidths: [7, 5], actionCount: 4, ratioRange: 0.05...0.6,
                                   initialLogStd: 0, seed: 9)
    // Give the output layer real weights so every gradient path is non-trivial.
    var generator = SeededGenerator(seed: 10)
    for index in network.parameters.indices { network.parameters[index] = Float.random(in: -0.8...0.8, using: &generator) }
    let ratios = [0.07, 0.3, 0.55]
    // Loss = Σ G ⊙ output with a fixed random G, so ∂loss/∂output = G.
    let weights = Matrix.random(rows: 3, cols: 4, scale: 1, using: &generator)
    func loss(_ net: AgentNetwork) -> Double {
        let output = net.forward(ratios: ratios).output
        return zip(output.storage, weights.storage).reduce(0) { $0 + Double($1.0) * Double($1.1) }
    }
    let analytic = network.backward(network.forward(ratios: ratios), outputGradient: weights)
    var checked = 0
    for index in 0..<network.logStdOffset {
        var plus = network, minus = network
        let step: Float = 1e-2
        plus.parameters[index] += step
        minus.parameters[index] -= step
        let numeric = (loss(plus) - loss(minus)) / Double(2 * step)
        #expect(abs(numeric - Double(analytic[index])) <= 2e-3 * max(1, abs(numeric)),
                "parameter \(index): numeric \(numeric), analytic \(analytic[index])")
        checked += 1
    }
    #expect(checked == 2 * 7 + 7 + 7 * 5 + 5 + 5 * 4 + 4)
}

@Test func freshNetworkStartsNearTheZeroActionWithTheInitialLogStd() throws {
    let network = try AgentNetwork(hiddenWidths: [64, 64], actionCount: 60, ratioRange: 0.05...0.6,
                                   initialLogStd: log(0.5), seed: 1)
    #expect(network.meanAction(ratio: 0.3).allSatisfy { abs($0) < 0.1 })
    #expect(network.logStd.allSatisfy { abs($0 - log(0.5)) < 1e-6 })
}

@Test func networkWithMismatchedStoredParametersFailsToDecode() throws {
    let network = try AgentNetwork(hiddenWidths: [4], actionCount: 3, ratioRange: 0.1...0.5, initialLogStd: 0, seed: 1)
    var object = try #require(JSONSerialization.jsonObject(with: JSONEncoder().encode(network)) as? [String: Any])
    object["widths"] = [2, 5, 3]
    let data = try JSONSerialization.data(withJSONObject: object)
    #expect(throws: (any Error).self) { try JSONDecoder().decode(AgentNetwork.self, from: data) }
}
