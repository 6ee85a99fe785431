import Foundation
import PPFTestSupport

extension TinyModel {
    /// The settings a service needs to serve this model, in this database and a private group
    /// namespace, on `brokers` (the shared stack's by default).
    func environment(database: IsolatedDatabase, groupPrefix: String,
                     brokers: String = Stack.kafkaBrokers) -> [String: String] {
        [
            "PPF_POSTGRES_URL": database.url, "PPF_KAFKA_BROKERS": brokers,
            "PPF_CONSUMER_GROUP_PREFIX": groupPrefix,
            "PPF_MODEL_DIR": folder.path, "PPF_MODEL_FILE": Self.fileName, "PPF_MODEL_ID": modelId,
            "PPF_CORPUS_DIR": folder.appendingPathComponent("corpus").path,
            "PPF_CALIBRATION_CACHE_DIR": folder.appendingPathComponent("calibration").path,
            "PPF_HEARTBEAT_SECONDS": "1", "PPF_BLAS_THREADS": "1",
        ]
    }

}
