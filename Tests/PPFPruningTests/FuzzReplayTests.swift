import Foundation
import PPFFuzzing
import Testing

// MARK: - The readers under crafted files (issue 16 §5)

/// Every seed, every mutant and every file the fuzzer once crashed on goes
/// through the readers in this process: each is accepted or refused with a
/// named error, and a crash fails the whole test run. The coverage-guided
/// run is `make fuzz`; this is its bounded replay in `make test`.
@Suite struct FuzzReplayTests {
    /// Crafted inputs that crashed a reader before the fix that names their error, per target
    /// (`context_length` 2³² − 1 sizing the RoPE table; a safetensors shape whose byte count overflows;
    /// plus a negative data offset, which never crashed), and any that `make fuzz` finds from now on.
    static let regressions = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/fuzz")

    @Test(arguments: FuzzTarget.allCases)
    func seedsAreAcceptedAndTheirMutantsAcceptedOrRefusedByName(_ target: FuzzTarget) throws {
        let seeds = try target.seeds()
        #expect(!seeds.isEmpty)
        for seed in seeds { #expect(target.run(seed), "a seed the project's own writer made is refused") }
        var mutator = SeedMutator(seed: 2026)
        var refused = 0
        let mutants = 600
        for index in 0..<mutants {
            let seed = seeds[index % seeds.count]
            // Most edits land in the header (where the lengths and counts are), some anywhere.
            let focus = index % 4 == 0 ? seed.count : 2048
            if !target.run(mutator.mutate(seed, focus: focus)) { refused += 1 }
        }
        // The mutations reach the checks: most mutants are refused, and every refusal was a named error.
        #expect(refused > mutants / 3, "\(refused) of \(mutants) refused")
    }

    @Test(arguments: FuzzTarget.allCases)
    func craftedFilesThatOnceCrashedAreRefusedByName(_ target: FuzzTarget) throws {
        let folder = Self.regressions.appendingPathComponent(target.rawValue)
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        #expect(!names.isEmpty, "the regression inputs of \(target) are bundled")
        for name in names {
            let bytes = try Data(contentsOf: folder.appendingPathComponent(name))
            // Returning at all is half the check (each of these once trapped or allocated without end).
            #expect(!target.run(bytes), "\(name) is refused")
        }
    }
}
