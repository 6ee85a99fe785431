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

    /// Creates an architecture; the defaults are the documented ones.
    public init(kernelSize: Int = 3, convolutionChannels: [Int] = [16, 16], headWidth: Int = 32,
                activation: Activation = .gelu) {
        self.kernelSize = kernelSize
        self.convolutionChannels = convolutionChannels
        self.headWidth = headWidth
        self.activation = activation
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
        /// Inputs feeding one output unit (for initialisation); 0 for a bias.
        let fanIn: Int
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
    /// convolution, then `head.hidden.weight` (H, pooled), `head.hidden.bias`,
    /// `head.output.weight` (1, H) and `head.output.bias` (1, 1).
    public var tensors: [Tensor] {
        var result: [Tensor] = []
        var offset = 0
        func add(_ name: String, _ rows: Int, _ cols: Int, fanIn: Int) {
            result.append(Tensor(name: name, rows: rows, cols: cols, offset: offset, fanIn: fanIn))
            offset += rows * cols
        }
        var inChannels = inputChannels
        for (index, outChannels) in architecture.convolutionChannels.enumerated() {
            let width = architecture.kernelSize * inChannels
            add("conv\(index + 1).weight", outChannels, width, fanIn: width)
            add("conv\(index + 1).bias", outChannels, 1, fanIn: 0)
            inChannels = outChannels
        }
        add("head.hidden.weight", architecture.headWidth, pooledWidth, fanIn: pooledWidth)
        add("head.hidden.bias", architecture.headWidth, 1, fanIn: 0)
        add("head.output.weight", 1, architecture.headWidth, fanIn: architecture.headWidth)
        add("head.output.bias", 1, 1, fanIn: 0)
        return result
    }

    /// Total number of parameters.
    public var parameterCount: Int { tensors.reduce(0) { $0 + $1.count } }
}
