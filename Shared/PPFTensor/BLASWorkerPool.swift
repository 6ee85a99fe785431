import COpenBLAS
import Foundation
import Synchronization

// MARK: - BLASWorkerPool

/// OpenBLAS's threading backend, replaced by workers that sleep between calls.
///
/// Why: OpenBLAS's own worker threads spin for about 2^28 cycles after every
/// parallel call before they sleep. Between two matrix products the forward
/// pass runs softmax, SwiGLU and log-sum-exp on every core
/// (``Kernels/forEachSlice(of:minimumPerSlice:threads:_:)``), and on a 2-core
/// machine the spinning thread took the core those kernels needed: 10 % of
/// all cycles of a 512-token window went to `blas_thread_server`
/// (docs/benchmarks.md). These workers spin for at most
/// ``spinNanoseconds`` (a forward pass issues its products back to back, so
/// most jobs arrive within it) and then block on a semaphore, so the cores are
/// free soon after the products stop.
///
/// The contract (cblas.h, `openblas_set_threads_callback_function`): OpenBLAS
/// calls ``run`` with `numjobs` jobs and expects all of them done on return.
/// The level-3 drivers busy-wait on each other's progress, so the jobs must
/// run at the same time: job 0 runs on the caller, job i on worker i − 1,
/// and the pool grows to `numjobs − 1` workers on first need (never more than
/// the thread count OpenBLAS was told, ``BLAS/setThreadCount(_:)``). OpenBLAS
/// keeps one set of job buffers, so concurrent calls from two threads, of
/// any job count, take turns on `callLock`.
final class BLASWorkerPool: @unchecked Sendable {
    /// A job function as OpenBLAS passes it: `(job index, job data, call argument)`.
    typealias Job = ppf_openblas_dojob

    /// One worker thread and the job it is handed.
    private final class Worker: @unchecked Sendable {
        let start = DispatchSemaphore(value: 0)
        /// Jobs posted to this worker so far (the worker spins on it before sleeping).
        let posted = Atomic<Int>(0)
        // Written by the caller before `posted` moves and `start` is signalled, read by the worker after.
        var job: (dojob: Job, index: Int32, data: UnsafeMutableRawPointer?, argument: Int32)?
    }

    /// The process-wide pool OpenBLAS calls into once ``install()`` ran.
    static let shared = BLASWorkerPool()

    /// How long a worker or the caller spins for the next event before it blocks.
    static let spinNanoseconds: UInt64 = 50_000

    private var workers: [Worker] = []
    private let finished = DispatchSemaphore(value: 0)
    /// Jobs of the current call not yet done by the workers.
    private let remaining = Atomic<Int>(0)
    /// One parallel BLAS call at a time (OpenBLAS's job buffers are shared).
    private let callLock = NSLock()

    /// Points OpenBLAS at the pool, once, before the first product (``BLAS``
    /// runs it). `PPF_BLAS_POOL=openblas` keeps OpenBLAS's own spinning
    /// threads instead, for comparison or should a future OpenBLAS break the
    /// callback contract.
    static let install: Void = {
        if ProcessInfo.processInfo.environment["PPF_BLAS_POOL"] == "openblas" { return }
        scipy_openblas_set_threads_callback_function { _, dojob, jobCount, elementSize, jobData, argument in
            BLASWorkerPool.shared.run(dojob: dojob, jobs: Int(jobCount), elementSize: elementSize,
                                      data: jobData, argument: argument)
        }
    }()

    /// Worker threads started so far (tests check that the pool is in use).
    var workerCount: Int { callLock.withLock { workers.count } }

    /// Runs `jobs` jobs concurrently: job 0 here, the others on workers.
    func run(dojob: Job?, jobs: Int, elementSize: Int, data: UnsafeMutableRawPointer?, argument: Int32) {
        guard let dojob, jobs > 0 else { return }
        // Every call takes its turn, a one-job call too: OpenBLAS hands each call the same job
        // buffers (`argument` indexes them), so a one-job call on one thread while another
        // thread's call runs would share them.
        callLock.lock()
        defer { callLock.unlock() }
        if jobs == 1 { return dojob(0, data, argument) }
        while workers.count < jobs - 1 { spawnWorker() }
        remaining.store(jobs - 1, ordering: .releasing)
        for index in 1..<jobs {
            let worker = workers[index - 1]
            worker.job = (dojob, Int32(index), data.map { $0 + index * elementSize }, argument)
            worker.posted.add(1, ordering: .releasing)
            worker.start.signal()   // no system call unless the worker already sleeps
        }
        dojob(0, data, argument)
        Self.spin { remaining.load(ordering: .acquiring) == 0 }
        for _ in 1..<jobs { finished.wait() }   // one count per worker, already there unless one is slow
    }

    /// Spins until `done` holds or ``spinNanoseconds`` passed.
    private static func spin(until done: () -> Bool) {
        let deadline = DispatchTime.now().uptimeNanoseconds + spinNanoseconds
        var polls = 0
        while !done() {
            polls += 1
            if polls & 63 == 0, DispatchTime.now().uptimeNanoseconds >= deadline { return }
        }
    }

    private func spawnWorker() {
        let worker = Worker()
        workers.append(worker)
        let finished = self.finished
        let thread = Thread { [unowned self] in
            var taken = 0
            while true {
                Self.spin { worker.posted.load(ordering: .acquiring) > taken }
                worker.start.wait()   // returns at once when the job came during the spin
                taken += 1
                if let job = worker.job { job.dojob(job.index, job.data, job.argument) }
                worker.job = nil
                self.remaining.subtract(1, ordering: .releasing)
                finished.signal()
            }
        }
        thread.name = "ppf.blas-\(workers.count)"
        thread.stackSize = 8 << 20   // OpenBLAS's level-3 drivers keep their blocking buffers on the stack
        thread.start()
    }
}
