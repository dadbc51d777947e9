/// A pool option has a value the pool cannot run with. Thrown before anything connects.
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The option, by its name in ``PoolConfiguration`` (for example `poolSize`).
    public var option: String
    /// What is wrong with its value.
    public var message: String

    /// Makes a configuration error.
    public init(option: String, message: String) {
        self.option = option
        self.message = message
    }

    public var description: String { "invalid \(option): \(message)" }
}
