import Dispatch

// MARK: - Row-parallel loops

extension Kernels {
    /// Runs `body` on contiguous slices of `0 ..< count`, one slice per BLAS
    /// thread, concurrently; each index lands in exactly one slice.
    ///
    /// Why: between two matrix products the forward pass runs softmax,
    /// SwiGLU and log-sum-exp on one core while OpenBLAS's other threads spin
    /// idle (18 % of a 512-token window on 2 cores, docs/benchmarks.md). The
    /// slices follow ``BLAS/threadCount``, so a service that limits OpenBLAS
    /// to one thread (several evaluators on few cores) stays on one core here
    /// too. Work below `minimumPerSlice` items per slice runs inline: a
    /// dispatch costs microseconds. Results do not depend on the slicing when
    /// `body` treats every index independently, as all callers do.
    ///
    /// - Parameters:
    ///   - count: the number of independent items (rows, or elements).
    ///   - minimumPerSlice: the least work worth handing to another thread.
    ///   - threads: the most slices; ``BLAS/threadCount`` unless given.
    ///   - body: called with each slice; must only write what its indices own.
    public static func forEachSlice(of count: Int, minimumPerSlice: Int, threads: Int = BLAS.threadCount,
                                    _ body: (Range<Int>) -> Void) {
        let slices = min(threads, count / max(1, minimumPerSlice))
        guard slices > 1 else {
            if count > 0 { body(0..<count) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let shared = SliceBody(run: body)
            DispatchQueue.concurrentPerform(iterations: slices) { slice in
                shared.run(count * slice / slices ..< count * (slice + 1) / slices)
            }
        }
    }
}

/// The slice body, shared by the concurrent iterations. @unchecked: each
/// iteration passes it a disjoint range, and the caller's contract is that
/// the body writes only what its indices own.
private struct SliceBody: @unchecked Sendable {
    let run: (Range<Int>) -> Void
}
