// MARK: - Activation

/// The non-linearity between layers.
public enum Activation: String, Codable, Sendable, Hashable {
    /// `max(0, x)`.
    case relu
    /// The tanh approximation of GELU (Hendrycks & Gimpel 2016); smooth, so
    /// finite-difference gradient checks are exact up to rounding.
    case gelu
}

// MARK: - NetworkArchitecture

/// The size of the predictor network (the hyper-parameters that fix its shapes).
///
/// The network follows the paper's CNN-based predictor (arXiv 2508.02381,
/// §3.2): 1-D convolutions over the layer sequence, pooling over layers, and
/// an MLP head. See docs/predictor.md for the shapes.
public struct NetworkArchitecture: Codable, Sendable, Hashable {
    /// Convolution kernel width over layers (odd; same padding with zeros). Default 3:
    /// a block's score sees its neighbours, which is where interactions between
    /// adjacent pruned blocks show up.
    public var kernelSize: Int
    /// Output channels of each convolution, in order. Default `[16, 16]`.
    public var convolutionChannels: [Int]
    /// Width of the hidden layer of the head. Default 32.
    public var headWidth: Int
    /// Non-linearity after every convolution and the head's hidden layer. Default GELU.
    public var activation: Activation
    /// Replace the plain mean over layers by a learned per-layer, per-channel
    /// weighted sum, initialised to the mean. Default true: blocks differ in
    /// sensitivity by depth (the first and last matter most), and a learned
    /// weight per depth expresses "Σ over layers of importance(depth) × damage"
    /// directly, where a convolution shared across depths cannot.
    public var depthWeightedPooling: Bool

    /// Creates an architecture; the defaults are the documented ones.
    public init(kernelSize: Int = 3, convolutionChannels: [Int] = [16, 16], headWidth: Int = 32,
                activation: Activation = .gelu, depthWeightedPooling: Bool = true) {
        self.kernelSize = kernelSize
        self.convolutionChannels = convolutionChannels
        self.headWidth = headWidth
        self.activation = activation
        self.depthWeightedPooling = depthWeightedPooling
    }

    /// Checks every size is usable.
    func validate() throws(PredictorError) {
        guard kernelSize > 0, kernelSize % 2 == 1 else {
            throw PredictorError(.invalidHyperparameter, "kernel size must be a positive odd number, got \(kernelSize)")
        }
        guard !convolutionChannels.isEmpty, convolutionChannels.allSatisfy({ $0 > 0 }) else {
            throw PredictorError(.invalidHyperparameter,
                                 "convolution channels must be a non-empty list of positive widths, got \(convolutionChannels)")
        }
        guard headWidth > 0 else {
            throw PredictorError(.invalidHyperparameter, "head width must be positive, got \(headWidth)")
        }
    }
}

// MARK: - NetworkShape

/// An architecture bound to a feature layout: every tensor's shape and its
/// place in the flat parameter vector.
public struct NetworkShape: Codable, Sendable, Hashable {
    /// One parameter tensor: a row-major (rows × cols) block of the flat vector.
    public struct Tensor: Sendable, Hashable {
        /// Stable name, e.g. `conv1.weight`.
        public let name: String
        /// Rows (output units for a weight).
        public let rows: Int
        /// Columns (input units for a weight; 1 for a bias).
        public let cols: Int
        /// Offset of the first element in the flat parameter vector.
        public let offset: Int
        /// Number of elements.
        public var count: Int { rows * cols }
        /// How the tensor starts.
        let initialization: Initialization
        /// Whether weight decay shrinks it (weights yes, biases and pooling weights no).
        let decays: Bool
    }

    /// How a tensor is initialised.
    enum Initialization: Hashable, Sendable {
        /// Normal with this standard deviation.
        case normal(std: Double)
        /// Every element equal to this value.
        case constant(Double)
    }

    /// The sizes of the network.
    public let architecture: NetworkArchitecture
    /// Layers of the feature sequence (the convolution's length).
    public let layerCount: Int
    /// Per-layer input channels.
    public let inputChannels: Int
    /// Global scalars concatenated after pooling.
    public let globalCount: Int

    /// Binds `architecture` to a feature layout.
    init(architecture: NetworkArchitecture, layerCount: Int, inputChannels: Int, globalCount: Int) throws(PredictorError) {
        try architecture.validate()
        self.architecture = architecture
        self.layerCount = layerCount
        self.inputChannels = inputChannels
        self.globalCount = globalCount
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        architecture = try container.decode(NetworkArchitecture.self, forKey: .architecture)
        layerCount = try container.decode(Int.self, forKey: .layerCount)
        inputChannels = try container.decode(Int.self, forKey: .inputChannels)
        globalCount = try container.decode(Int.self, forKey: .globalCount)
        try architecture.validate()
        guard layerCount > 0, inputChannels > 0, globalCount >= 0 else {
            throw PredictorError(.invalidArtifact,
                                 "network shape has \(layerCount) layers, \(inputChannels) channels, \(globalCount) globals")
        }
    }

    /// Channels of the last convolution.
    var finalChannels: Int { architecture.convolutionChannels.last ?? 0 }
    /// Width of the pooled vector the head reads: mean and max of each final channel, then the globals.
    var pooledWidth: Int { 2 * finalChannels + globalCount }

    /// Every tensor, in the order it is stored:
    /// `conv{i}.weight` (c_i, k·c_{i−1}) and `conv{i}.bias` (c_i, 1) for each
    /// convolution, `pool.depthWeight` (L, cₙ) when pooling is depth-weighted,
    /// then `head.hidden.weight` (H, pooled), `head.hidden.bias` (H, 1),
    /// `head.output.weight` (1, H) and `head.output.bias` (1, 1).
    ///
    /// Initialisation: He-normal (`std = √(2 / fan-in)`) for weights followed
    /// by an activation, `√(1 / fan-in)` for the output weight, zero biases,
    /// and `1 / L` for the depth weights (the plain mean).
    public var tensors: [Tensor] {
        var result: [Tensor] = []
        var offset = 0
        func add(_ name: String, _ rows: Int, _ cols: Int, _ initialization: Initialization, decays: Bool) {
            result.append(Tensor(name: name, rows: rows, cols: cols, offset: offset,
                                 initialization: initialization, decays: decays))
            offset += rows * cols
        }
        func he(_ fanIn: Int, gain: Double = 2) -> Initialization { .normal(std: (gain / Double(fanIn)).squareRoot()) }
        var inChannels = inputChannels
        for (index, outChannels) in architecture.convolutionChannels.enumerated() {
            let width = architecture.kernelSize * inChannels
            add("conv\(index + 1).weight", outChannels, width, he(width), decays: true)
            add("conv\(index + 1).bias", outChannels, 1, .constant(0), decays: false)
            inChannels = outChannels
        }
        if architecture.depthWeightedPooling {
            add("pool.depthWeight", layerCount, finalChannels, .constant(1 / Double(layerCount)), decays: false)
        }
        add("head.hidden.weight", architecture.headWidth, pooledWidth, he(pooledWidth), decays: true)
        add("head.hidden.bias", architecture.headWidth, 1, .constant(0), decays: false)
        add("head.output.weight", 1, architecture.headWidth, he(architecture.headWidth, gain: 1), decays: true)
        add("head.output.bias", 1, 1, .constant(0), decays: false)
        return result
    }

    /// Total number of parameters.
    public var parameterCount: Int { tensors.reduce(0) { $0 + $1.count } }
}
