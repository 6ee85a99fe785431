// swift-tools-version: 6.1
//
// PPF — Predictive Pruning Framework. The layout explains the architecture:
//   Shared/C*        system-library targets (module map + shim only)
//   Shared/PPF*      Swift modules; each C library has exactly one importer
//   Services/<name>  thin executables: model-host, pruner, agent, predictor,
//                    evaluator, and the `ppf` command-line tool
//   Tests/<Module>Tests, Tests/IntegrationTests
import PackageDescription
import Foundation

/// The package root, so executables can find librdkafka >= 2.3 in .deps/lib
/// through their rpath (design.md: Debian's 2.0.2 cannot talk to Tansu).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path
let rdkafkaRuntime: [LinkerSetting] = [
    .unsafeFlags(["-Xlinker", "-rpath", "-Xlinker", "\(packageRoot)/.deps/lib"]),
]
/// OpenBLAS 0.3.34 (scipy-openblas32, `make setup` puts it in .deps/lib): found
/// there at link time and, through the rpath, at run time, by every binary
/// that links PPFTensor (the COpenBLAS shim says why not Debian's 0.3.21).
let openBLASRuntime: [LinkerSetting] = [
    .unsafeFlags(["-L\(packageRoot)/.deps/lib", "-Xlinker", "-rpath", "-Xlinker", "\(packageRoot)/.deps/lib"]),
]

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")

/// Every service links the same shared stack.
let serviceDependencies: [Target.Dependency] = [
    "PPFRuntime", "PPFContracts", "PPFBus", "PPFStore", logging,
]

func service(_ name: String, extra: [Target.Dependency] = []) -> Target {
    .executableTarget(
        name: name,
        dependencies: serviceDependencies + extra,
        path: "Services/\(name)",
        swiftSettings: strict,
        linkerSettings: rdkafkaRuntime
    )
}

let package = Package(
    name: "PPF",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "ppf", targets: ["ppf"]),
        .executable(name: "model-host", targets: ["model-host"]),
        .executable(name: "pruner", targets: ["pruner"]),
        .executable(name: "agent", targets: ["agent"]),
        .executable(name: "predictor", targets: ["predictor"]),
        .executable(name: "evaluator", targets: ["evaluator"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
    ],
    targets: [
        // MARK: - C libraries (one Swift importer each)
        .systemLibrary(name: "CRdKafka", path: "Shared/CRdKafka"),
        .systemLibrary(name: "CLibPQ", path: "Shared/CLibPQ"),
        .systemLibrary(name: "COpenBLAS", path: "Shared/COpenBLAS"),

        // MARK: - Shared modules
        .target(name: "PPFErrors", path: "Shared/PPFErrors", swiftSettings: strict),
        .target(name: "PPFContracts", path: "Shared/PPFContracts", swiftSettings: strict),
        .target(name: "PPFRuntime", dependencies: ["PPFContracts", "PPFBus", "PPFStore", "PPFTensor", logging],
                path: "Shared/PPFRuntime", swiftSettings: strict),
        .target(name: "PPFBus", dependencies: ["CRdKafka", "PPFContracts", logging],
                path: "Shared/PPFBus", swiftSettings: strict),
        .target(name: "PPFStore", dependencies: ["CLibPQ", "PPFContracts", logging],
                path: "Shared/PPFStore", swiftSettings: strict),
        .target(name: "PPFTensor", dependencies: ["COpenBLAS", "PPFErrors"],
                path: "Shared/PPFTensor", swiftSettings: strict, linkerSettings: openBLASRuntime),
        .target(name: "PPFModel", dependencies: ["PPFTensor", "PPFContracts", "PPFErrors"],
                path: "Shared/PPFModel", swiftSettings: strict),
        .target(name: "PPFPruning", dependencies: ["PPFModel", "PPFTensor", "PPFContracts", "PPFErrors"],
                path: "Shared/PPFPruning", swiftSettings: strict),
        .target(name: "PPFPredictor", dependencies: ["PPFTensor", "PPFContracts", "PPFErrors"],
                path: "Shared/PPFPredictor", swiftSettings: strict),
        .target(name: "PPFAgent", dependencies: ["PPFTensor", "PPFContracts", "PPFModel", "PPFErrors"],
                path: "Shared/PPFAgent", swiftSettings: strict),
        .target(name: "PPFReport", dependencies: ["PPFErrors"], path: "Shared/PPFReport", swiftSettings: strict),
        // Use cases the executables share (docs/architecture.md): each workflow exists once, here.
        .target(name: "PPFWorkflows", dependencies: ["PPFContracts", "PPFBus", "PPFStore", "PPFRuntime", "PPFAgent", "PPFPredictor",
                                                 "PPFPruning", "PPFModel", "PPFReport"],
                path: "Shared/PPFWorkflows", swiftSettings: strict),

        // MARK: - Services (thin executables)
        service("model-host", extra: ["PPFWorkflows", "PPFModel", "PPFPruning", "PPFTensor"]),
        service("pruner", extra: ["PPFWorkflows", "PPFModel", "PPFPruning", "PPFTensor"]),
        service("agent", extra: ["PPFWorkflows", "PPFAgent", "PPFPredictor", "PPFModel", "PPFTensor"]),
        service("predictor", extra: ["PPFWorkflows", "PPFPredictor", "PPFTensor"]),
        service("evaluator", extra: ["PPFWorkflows", "PPFModel", "PPFPruning", "PPFTensor"]),
        .executableTarget(
            name: "ppf",
            dependencies: serviceDependencies + ["PPFWorkflows", "PPFModel", "PPFTensor", "PPFPruning", "PPFReport", "PPFAgent", "PPFPredictor",
                                                argumentParser],
            path: "Services/ppf",
            swiftSettings: strict,
            linkerSettings: rdkafkaRuntime
        ),

        // MARK: - Tests
        // Helpers shared by test targets: throwaway servers, child processes, waiting.
        .target(name: "PPFTestSupport", dependencies: ["PPFStore", "PPFModel", logging], path: "Tests/PPFTestSupport",
                swiftSettings: strict),
        // The file readers as fuzz targets (`make fuzz`), and the `ppf-fuzz` driver.
        .target(name: "PPFFuzzing", dependencies: ["PPFModel", "PPFPruning", "PPFTensor", "PPFTestSupport"],
                path: "Tests/PPFFuzzing", swiftSettings: strict),
        .executableTarget(name: "ppf-fuzz", dependencies: ["PPFFuzzing"], path: "Tests/Fuzz", swiftSettings: strict),
        .testTarget(name: "PPFContractsTests", dependencies: ["PPFContracts"],
                    path: "Tests/PPFContractsTests", resources: [.copy("Golden")], swiftSettings: strict),
        .testTarget(name: "PPFRuntimeTests", dependencies: ["PPFRuntime", logging],
                    path: "Tests/PPFRuntimeTests", swiftSettings: strict, linkerSettings: rdkafkaRuntime),
        .testTarget(name: "PPFBusTests", dependencies: ["PPFBus", "PPFContracts"],
                    path: "Tests/PPFBusTests", swiftSettings: strict, linkerSettings: rdkafkaRuntime),
        .testTarget(name: "PPFStoreTests", dependencies: ["PPFStore", "PPFContracts", "PPFTestSupport"],
                    path: "Tests/PPFStoreTests", swiftSettings: strict),
        .testTarget(name: "PPFTensorTests", dependencies: ["PPFTensor"],
                    path: "Tests/PPFTensorTests", swiftSettings: strict),
        .testTarget(name: "PPFModelTests", dependencies: ["PPFModel", "PPFTensor", "PPFContracts"],
                    path: "Tests/PPFModelTests", resources: [.copy("Fixtures")], swiftSettings: strict),
        .testTarget(name: "PPFPruningTests", dependencies: ["PPFPruning", "PPFModel", "PPFTensor", "PPFContracts", "PPFFuzzing"],
                    path: "Tests/PPFPruningTests", resources: [.copy("Fixtures")], swiftSettings: strict),
        .testTarget(name: "PPFPredictorTests", dependencies: ["PPFPredictor", "PPFTensor", "PPFContracts", "PPFTestSupport"],
                    path: "Tests/PPFPredictorTests", swiftSettings: strict),
        .testTarget(name: "PPFAgentTests", dependencies: ["PPFAgent", "PPFTensor", "PPFContracts", "PPFModel",
                                                      "PPFTestSupport"],
                    path: "Tests/PPFAgentTests", swiftSettings: strict),
        .testTarget(name: "PPFWorkflowsTests", dependencies: ["PPFWorkflows", "PPFStore", "PPFContracts", "PPFTestSupport",
                                                          "PPFAgent", "PPFPredictor", "PPFRuntime", "PPFTensor", "PPFModel",
                                                          "PPFPruning"],
                    path: "Tests/PPFWorkflowsTests", swiftSettings: strict),
        .testTarget(name: "PPFReportTests", dependencies: ["PPFReport"],
                    path: "Tests/PPFReportTests", swiftSettings: strict),
        .testTarget(name: "IntegrationTests",
                    dependencies: ["PPFBus", "PPFStore", "PPFRuntime", "PPFContracts", "PPFTestSupport", "PPFWorkflows", "PPFAgent",
                                   "PPFPredictor", "PPFModel", "PPFPruning", logging],
                    path: "Tests/IntegrationTests", swiftSettings: strict, linkerSettings: rdkafkaRuntime),
    ],
    swiftLanguageModes: [.v6]
)
