// MARK: - Kernels

/// Element-wise and row-wise kernels of a LLaMA forward pass, on raw pointers.
///
/// Everything that is not a matrix product lives here: RMSNorm, SwiGLU,
/// softmax, RoPE, log-softmax and adds. They take unsafe pointers so that the
/// forward pass can run them on preallocated scratch buffers without copies or
/// allocations, and so that debug builds stay usable (no per-element array
/// bounds checks or copy-on-write checks in the inner loops). Pointers are only
/// used during the call.
public enum Kernels {}
