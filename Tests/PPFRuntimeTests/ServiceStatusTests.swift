import Foundation
import PPFRuntime
import Testing

@Test func aServiceStatusReportsItsStartingFieldsCountersAndActivityAsHeartbeatDetails() {
    let status = ServiceStatus(counters: ["planned"], fields: ["model": ""])
    #expect(status.details == ["activity": "starting", "planned": "0", "model": ""])
    status.serve(modelId: "m")
    status.set(activity: "evaluating")
    status.set("progress", to: "3/8 windows")
    status.count("planned")
    status.count("planned", by: 2)
    status.count("searches")
    #expect(status.details == ["activity": "evaluating", "planned": "3", "model": "m", "progress": "3/8 windows",
                               "searches": "1"])
    // A new activity drops the progress of the previous one; nil removes a field.
    status.set(activity: "idle")
    status.set("model", to: nil)
    #expect(status.details == ["activity": "idle", "planned": "3", "searches": "1"])
}

@Test func countsFromManyTasksAreNotLost() async {
    let status = ServiceStatus(counters: ["answered"])
    await withTaskGroup(of: Void.self) { group in
        for _ in 0..<8 { group.addTask { for _ in 0..<500 { status.count("answered") } } }
    }
    #expect(status.details["answered"] == "4000")
}
