// MARK: - LlamaActivationObserver

/// Sees the input of every linear layer during a forward pass.
///
/// Importance metrics (Wanda-sp `|W|·‖X‖`, FLAP's fluctuation) score channels
/// from these calibration activations. Each callback receives a row-major
/// (rows, cols) buffer that is only valid during the call.
public protocol LlamaActivationObserver: AnyObject {
    /// The normalised input of block `layer`'s q/k/v projections, (T, d).
    func attentionInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int)
    /// The concatenated head outputs entering the output projection, (T, q·hd).
    func attentionOutputInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int)
    /// The normalised input of the gate/up projections, (T, d).
    func mlpInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int)
    /// The SwiGLU output entering the down projection, (T, ff).
    func downInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int)
}

// MARK: - Residual stream (block boundaries)

/// Sees the residual stream at block boundaries, for block-level statistics
/// such as ShortGPT's Block Influence (`1 − cos(x_in, x_out)`, Men et al. 2024).
///
/// A separate, refining protocol so observers of linear-layer inputs need not
/// implement it; the forward pass checks for it once per call.
public protocol LlamaResidualObserver: LlamaActivationObserver {
    /// The residual stream entering block `layer`, (T, d), before its attention sublayer.
    func blockInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int)
    /// The residual stream leaving block `layer`, (T, d), after its MLP sublayer.
    func blockOutput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int)
}
