import Foundation
import Synchronization
import Testing
@testable import PPFTensor

/// The naive triple loop every gemm result is checked against.
private func naiveGemm(
    _ a: Matrix, _ transA: BLAS.Transpose, _ b: Matrix, _ transB: BLAS.Transpose,
    alpha: Float, beta: Float, c: Matrix
) -> Matrix {
    let m = transA == .none ? a.rows : a.cols
    let k = transA == .none ? a.cols : a.rows
    let n = transB == .none ? b.cols : b.rows
    var out = c
    for i in 0..<m {
        for j in 0..<n {
            var sum: Double = 0
            for p in 0..<k {
                let x = transA == .none ? a[i, p] : a[p, i]
                let y = transB == .none ? b[p, j] : b[j, p]
                sum += Double(x) * Double(y)
            }
            out[i, j] = alpha * Float(sum) + beta * c[i, j]
        }
    }
    return out
}

private func maxAbsDifference(_ x: Matrix, _ y: Matrix) -> Float {
    zip(x.storage, y.storage).map { abs($0 - $1) }.max() ?? 0
}

@Test(arguments: [(BLAS.Transpose.none, BLAS.Transpose.none), (.none, .transposed),
                  (.transposed, .none), (.transposed, .transposed)])
func gemmMatchesNaiveTripleLoopForEveryTransposeCombination(transA: BLAS.Transpose, transB: BLAS.Transpose) throws {
    var generator = SeededGenerator(seed: 7)
    let (m, n, k) = (5, 7, 3)
    let a = transA == .none ? Matrix.random(rows: m, cols: k, scale: 1, using: &generator)
                            : Matrix.random(rows: k, cols: m, scale: 1, using: &generator)
    let b = transB == .none ? Matrix.random(rows: k, cols: n, scale: 1, using: &generator)
                            : Matrix.random(rows: n, cols: k, scale: 1, using: &generator)
    let c0 = Matrix.random(rows: m, cols: n, scale: 1, using: &generator)
    var c = c0
    try BLAS.gemm(a, transA, b, transB, alpha: 0.5, beta: 2, into: &c)
    let expected = naiveGemm(a, transA, b, transB, alpha: 0.5, beta: 2, c: c0)
    #expect(maxAbsDifference(c, expected) < 1e-5)
}

@Test func gemmOnStridedSubBlocksWritesOnlyTheTargetColumns() {
    // Multiply the column block 2..<4 of a (3, 6) matrix, as attention does per head.
    var generator = SeededGenerator(seed: 3)
    let a = Matrix.random(rows: 3, cols: 6, scale: 1, using: &generator)
    let b = Matrix.random(rows: 4, cols: 6, scale: 1, using: &generator)
    var c = Matrix(rows: 3, cols: 5, repeating: 9)
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            c.withUnsafeMutableBufferPointer { pc in
                // (3, 2) @ (2, 4) -> written into columns 1..<5 of c
                BLAS.gemm(.none, .transposed, m: 3, n: 4, k: 2,
                          a: pa.baseAddress! + 2, lda: 6, b: pb.baseAddress! + 2, ldb: 6,
                          c: pc.baseAddress! + 1, ldc: 5)
            }
        }
    }
    for i in 0..<3 {
        #expect(c[i, 0] == 9)
        for j in 0..<4 {
            let expected = a[i, 2] * b[j, 2] + a[i, 3] * b[j, 3]
            #expect(abs(c[i, j + 1] - expected) < 1e-5)
        }
    }
}

@Test func gemmRejectsMismatchedInnerDimensions() {
    let a = Matrix(rows: 2, cols: 3)
    let b = Matrix(rows: 4, cols: 2)
    var c = Matrix(rows: 2, cols: 2)
    #expect(throws: TensorError.self) { try BLAS.gemm(a, .none, b, .none, into: &c) }
}

@Test func gemmRejectsAWronglyShapedOutput() {
    let a = Matrix(rows: 2, cols: 3)
    let b = Matrix(rows: 3, cols: 4)
    var c = Matrix(rows: 2, cols: 3)
    #expect(throws: TensorError.self) { try BLAS.gemm(a, .none, b, .none, into: &c) }
}

@Test func matrixRejectsStorageOfTheWrongLength() {
    #expect(throws: TensorError.self) { try Matrix(rows: 2, cols: 3, storage: [1, 2, 3]) }
}


@Test func gemmBenchmarkReportsAPositiveThroughput() {
    let result = GemmBenchmark.measure(m: 64, n: 64, k: 64, repetitions: 2)
    #expect(result.gigaflopsPerSecond > 0)
    #expect(result.bestSeconds.isFinite)
}

@Test func theLinkedBLASIsThePinnedOpenBLASAndNamesItsKernel() {
    // infra/packages.lock pins scipy-openblas32 0.3.34; a build that silently
    // picked up another OpenBLAS (Debian's 0.3.21) would report another version.
    #expect(BLAS.configuration.hasPrefix("OpenBLAS 0.3.34"))
    #expect(!BLAS.kernel.isEmpty && BLAS.kernel != "unknown")
    #expect(BLAS.summary.contains("kernel \(BLAS.kernel)"))
}

/// The process-wide thread count: the two tests that read or change it take turns,
/// so neither sees the other's value mid-way.
@Suite(.serialized) struct BLASThreadCountTests {
    @Test func threadCountReadsBackWhatWasSet() {
        let original = BLAS.threadCount
        defer { BLAS.setThreadCount(original) }
        BLAS.setThreadCount(1)
        #expect(BLAS.threadCount == 1)
        BLAS.setThreadCount(0)
        #expect(BLAS.threadCount == 1)
    }

    @Test func theSummaryNamesTheThreadCount() {
        #expect(BLAS.summary.contains("\(BLAS.threadCount) thread(s)"))
    }
}

@Test func parallelProductsFromSeveralThreadsAtOnceMatchTheNaiveLoop() async throws {
    // Big enough that OpenBLAS splits each product into jobs for the worker
    // pool (BLASWorkerPool); four callers at once take turns on its call lock.
    let (m, n, k) = (192, 160, 128)
    let results = try await withThrowingTaskGroup(of: Float.self) { group in
        for seed in 1...4 {
            group.addTask {
                var generator = SeededGenerator(seed: UInt64(seed))
                let a = Matrix.random(rows: m, cols: k, scale: 1, using: &generator)
                let b = Matrix.random(rows: n, cols: k, scale: 1, using: &generator)
                let zero = Matrix(rows: m, cols: n)
                let expected = naiveGemm(a, .none, b, .transposed, alpha: 1, beta: 0, c: zero)
                var worst: Float = 0
                for _ in 0..<5 {
                    var c = zero
                    try BLAS.gemm(a, .none, b, .transposed, into: &c)
                    worst = max(worst, maxAbsDifference(c, expected))
                }
                return worst
            }
        }
        return try await group.reduce(into: [Float]()) { $0.append($1) }
    }
    #expect(results.count == 4 && results.allSatisfy { $0 < 1e-3 })
}

/// Slots 0..<4 marked by the pool test's jobs; slot 4 set by a job that timed out.
private let poolMarks = Mutex([Int](repeating: 0, count: 5))

@Test func thePoolRunsEveryJobOfACallAtTheSameTime() {
    // OpenBLAS's level-3 jobs busy-wait on each other, so a pool that ran them
    // one after another would hang. Here each of four jobs marks its slot and
    // then waits (at most 5 s) until every slot is marked: only concurrent jobs finish.
    let jobs = 4
    poolMarks.withLock { $0 = [Int](repeating: 0, count: jobs + 1) }
    let job: BLASWorkerPool.Job = { index, _, total in
        poolMarks.withLock { $0[Int(index)] = 1 }
        let deadline = Date(timeIntervalSinceNow: 5)
        while poolMarks.withLock({ $0.prefix(Int(total)).contains(0) }) {
            if Date() > deadline { return poolMarks.withLock { $0[Int(total)] = 1 } }
        }
    }
    var buffer = [Int32](repeating: 0, count: jobs)
    buffer.withUnsafeMutableBytes { bytes in
        BLASWorkerPool.shared.run(dojob: job, jobs: jobs, elementSize: MemoryLayout<Int32>.stride,
                                  data: bytes.baseAddress, argument: Int32(jobs))
    }
    let marks = poolMarks.withLock { $0 }
    #expect(marks.prefix(jobs).allSatisfy { $0 == 1 }, "every job ran")
    #expect(marks[jobs] == 0, "no job waited in vain for another")
    #expect(BLASWorkerPool.shared.workerCount >= jobs - 1)
}
