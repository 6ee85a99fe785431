import Foundation
import PPFRuntime
import Testing

private actor Ledger {
    let gate = SerialGate()
    var inside = 0
    var mostInside = 0
    var order: [Int] = []

    func enter(_ id: Int, fail: Bool = false) async throws {
        try await gate.run {
            inside += 1
            mostInside = max(mostInside, inside)
            defer { inside -= 1 }
            // Suspends inside the gate: an actor alone would let another call in here.
            try await Task.sleep(for: .milliseconds(5))
            order.append(id)
            if fail { throw CancellationError() }
        }
    }
}

@Test func oneBodyRunsAtATimeAcrossSuspensionsAndAThrowingBodyLetsTheNextIn() async throws {
    let ledger = Ledger()
    await withTaskGroup(of: Void.self) { group in
        for id in 0..<20 { group.addTask { try? await ledger.enter(id, fail: id % 3 == 0) } }
    }
    #expect(await ledger.mostInside == 1)
    #expect(await ledger.order.count == 20, "every body ran, the throwing ones too")
}
