import Foundation

// MARK: - PredictorHyperparameters

/// Everything that decides how a predictor is trained. Stored with the model
/// so a version can be retrained exactly.
public struct PredictorHyperparameters: Codable, Sendable, Hashable {
    /// Network sizes. Default: k = 3, convolutions 16 → 16, head 32, GELU.
    public var architecture: NetworkArchitecture
    /// Ensemble members (different seeds and validation folds, plus bootstrap resamples when
    /// `bootstrap` is on). Default 5.
    public var ensembleSize: Int
    /// Seed of every random choice (splits, resamples, initialisation, batch order). Default 1.
    public var seed: UInt64
    /// Adam step size at the start of training. Default 3e-3 (with 1e-3 most members were still
    /// improving at `maxEpochs` on the synthetic task, and held-out error was higher).
    public var learningRate: Double
    /// Anneal the step size along a half cosine to `learningRate · finalLearningRateFraction`
    /// at `maxEpochs` (Loshchilov & Hutter 2017). Default true.
    public var cosineDecay: Bool
    /// Where the cosine ends, as a fraction of `learningRate`. Default 0.05.
    public var finalLearningRateFraction: Double
    /// Adam's first-moment decay. Default 0.9.
    public var beta1: Double
    /// Adam's second-moment decay. Default 0.999.
    public var beta2: Double
    /// Adam's denominator guard. Default 1e-8.
    public var epsilon: Double
    /// Decoupled L2 weight decay on weights, not biases (AdamW, Loshchilov & Hutter 2019): each
    /// step shrinks a weight by `learningRate · weightDecay` of itself. Default 0.3 (on the synthetic
    /// task 1e-4 overfits: held-out log-perplexity RMSE 0.31 against 0.08, docs/predictor.md).
    public var weightDecay: Double
    /// Policies per mini-batch. Default 32.
    public var batchSize: Int
    /// Upper bound on passes over the training fold. Default 600.
    public var maxEpochs: Int
    /// Stop after this many epochs without a better validation loss; the best
    /// weights are restored. Default 80.
    public var patience: Int
    /// Share of the samples each member holds out for early stopping. Default 0.15.
    public var validationFraction: Double
    /// Train each member on a bootstrap resample of its training fold. Default false: members
    /// already differ by seed and validation fold, and on the synthetic task resampling (which
    /// leaves out about a third of the few samples) raised held-out MAPE from 5.1 % to 7.7 %.
    public var bootstrap: Bool
    /// Weight of the pairwise ranking term (RankNet's logistic loss over the
    /// pairs of each mini-batch) added to the mean squared error. Default 0:
    /// on the synthetic task 0.1 moved held-out Kendall τ by +0.001 (noise) and
    /// 0.5 lowered it by 0.004 (docs/predictor.md).
    public var rankingLossWeight: Double
    /// Scale of score differences inside the ranking term, in standardised
    /// log-perplexity units. Default 0.1.
    public var rankingTemperature: Double

    /// Creates hyper-parameters; every default is documented on its property.
    public init(
        architecture: NetworkArchitecture = NetworkArchitecture(),
        ensembleSize: Int = 5,
        seed: UInt64 = 1,
        learningRate: Double = 3e-3,
        cosineDecay: Bool = true,
        finalLearningRateFraction: Double = 0.05,
        beta1: Double = 0.9,
        beta2: Double = 0.999,
        epsilon: Double = 1e-8,
        weightDecay: Double = 0.3,
        batchSize: Int = 32,
        maxEpochs: Int = 600,
        patience: Int = 80,
        validationFraction: Double = 0.15,
        bootstrap: Bool = false,
        rankingLossWeight: Double = 0,
        rankingTemperature: Double = 0.1
    ) {
        self.architecture = architecture
        self.ensembleSize = ensembleSize
        self.seed = seed
        self.learningRate = learningRate
        self.cosineDecay = cosineDecay
        self.finalLearningRateFraction = finalLearningRateFraction
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.batchSize = batchSize
        self.maxEpochs = maxEpochs
        self.patience = patience
        self.validationFraction = validationFraction
        self.bootstrap = bootstrap
        self.rankingLossWeight = rankingLossWeight
        self.rankingTemperature = rankingTemperature
    }

    /// Checks every value is in its valid range.
    func validate() throws(PredictorError) {
        try architecture.validate()
        func require(_ condition: Bool, _ message: String) throws(PredictorError) {
            if !condition { throw PredictorError(.invalidHyperparameter, message) }
        }
        try require(ensembleSize >= 1, "ensemble size must be at least 1, got \(ensembleSize)")
        try require(learningRate > 0 && learningRate.isFinite, "learning rate must be positive, got \(learningRate)")
        try require((0...1).contains(finalLearningRateFraction),
                    "final learning-rate fraction must lie in [0, 1], got \(finalLearningRateFraction)")
        try require((0..<1).contains(beta1) && (0..<1).contains(beta2), "Adam betas must lie in [0, 1), got \(beta1), \(beta2)")
        try require(epsilon > 0, "Adam epsilon must be positive, got \(epsilon)")
        try require(weightDecay >= 0 && weightDecay.isFinite, "weight decay must be ≥ 0, got \(weightDecay)")
        try require(batchSize >= 1, "batch size must be at least 1, got \(batchSize)")
        try require(maxEpochs >= 1, "max epochs must be at least 1, got \(maxEpochs)")
        try require(patience >= 1, "patience must be at least 1, got \(patience)")
        try require(validationFraction > 0 && validationFraction <= 0.5,
                    "validation fraction must lie in (0, 0.5], got \(validationFraction)")
        try require(rankingLossWeight >= 0 && rankingLossWeight.isFinite,
                    "ranking loss weight must be ≥ 0, got \(rankingLossWeight)")
        try require(rankingTemperature > 0 && rankingTemperature.isFinite,
                    "ranking temperature must be positive, got \(rankingTemperature)")
    }

    /// The step size for `epoch` (0-based) under the schedule.
    func learningRate(atEpoch epoch: Int) -> Double {
        guard cosineDecay else { return learningRate }
        let progress = min(1, Double(epoch) / Double(max(1, maxEpochs)))
        let floor = learningRate * finalLearningRateFraction
        return floor + 0.5 * (learningRate - floor) * (1 + cos(Double.pi * progress))
    }
}
