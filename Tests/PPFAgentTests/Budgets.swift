import PPFAgent
import PPFTensor

// MARK: - Budgets built in code (no model download)

enum Budgets {
    /// SmolLM2-135M: 30 blocks, hidden 576, 9 query heads in 3 KV groups of head dim 64, FFN 1536.
    static func smolLM2(allowsBlockDrop: Bool = false) throws -> ParameterBudget {
        try ParameterBudget.groupedQueryAttention(
            blocks: 30, hiddenSize: 576, queryHeads: 9, kvHeads: 3, headDimension: 64,
            ffnChannels: 1536, allowsBlockDrop: allowsBlockDrop)
    }

    /// A small random budget with near-continuous attention levels (steps of
    /// 1/200 up to 0.9), so the continuous KKT optimum is a tight bound.
    static func fineGrained(blocks: Int = 6, seed: UInt64, allowsBlockDrop: Bool = false) throws -> ParameterBudget {
        var generator = SeededGenerator(seed: seed)
        let levels = (0...180).map { Double($0) / 200 }
        let layers = (0..<blocks).map { _ in
            let channels = 256
            let perChannel = 3 * Int.random(in: 24...64, using: &generator)
            return LayerBudget(attentionParameters: 4 * 64 * Int.random(in: 16...48, using: &generator),
                               mlpParameters: channels * perChannel, attentionLevels: levels,
                               mlpChannels: channels, maxRemovedMLPChannels: 230)
        }
        return try ParameterBudget(layers: layers, allowsBlockDrop: allowsBlockDrop)
    }

    /// A random GQA-shaped budget: random heads, groups and widths. Blocks
    /// differ in FFN width unless drops are allowed (real models have equal
    /// blocks; ``ParameterBudget`` requires comparable blocks for drops).
    static func randomGQA(seed: UInt64, allowsBlockDrop: Bool) throws -> ParameterBudget {
        var generator = SeededGenerator(seed: seed)
        let blocks = Int.random(in: 2...12, using: &generator)
        let kvHeads = Int.random(in: 1...4, using: &generator)
        let queryHeads = kvHeads * Int.random(in: 1...4, using: &generator)
        let headDimension = [16, 32, 64].randomElement(using: &generator) ?? 32
        let hidden = queryHeads * headDimension
        let sharedFFN = hidden * Int.random(in: 3...4, using: &generator)
        var layers: [LayerBudget] = []
        for _ in 0..<blocks {
            let ffn = allowsBlockDrop ? sharedFFN : Int.random(in: (2 * hidden)...(4 * hidden), using: &generator)
            let one = try ParameterBudget.groupedQueryAttention(
                blocks: 1, hiddenSize: hidden, queryHeads: queryHeads, kvHeads: kvHeads,
                headDimension: headDimension, ffnChannels: ffn,
                minimumKeptMLPFraction: allowsBlockDrop ? 0.1 : Double.random(in: 0.05...0.3, using: &generator),
                allowsBlockDrop: false)
            layers.append(one.layers[0])
        }
        return try ParameterBudget(layers: layers, allowsBlockDrop: allowsBlockDrop)
    }
}
