import Foundation
import PPFAgent
import PPFContracts
import PPFStore

/// What a ratio event gets from the registry: an agent to answer with, or why not.
public enum Resolution: Sendable {
    /// The agent that answers.
    case ready(LoadedAgent)
    /// The event cannot be answered (unknown model, no predictor yet).
    case rejected(reason: RatioEventRejected.Reason, message: String)
}
