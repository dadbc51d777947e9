import DBConnection
import DBConnectionTesting
import Testing

@Suite struct PoolConfigurationTests {
    typealias Config = PoolConfiguration<ScriptedConnection>

    static let bad: [(String, @Sendable (inout Config) -> Void)] = [
        ("poolSize", { $0.poolSize = 0 }),
        ("queueTarget", { $0.queueTarget = .milliseconds(-1) }),
        ("queueInterval", { $0.queueInterval = .zero }),
        ("idleInterval", { $0.idleInterval = .seconds(-1) }),
        ("idleLimit", { $0.idleLimit = -1 }),
        ("backoffMin", { $0.backoffMin = .milliseconds(-1) }),
        ("backoffMin", { $0.backoffMin = .seconds(5); $0.backoffMax = .seconds(1) }),
        ("afterConnectTimeout", { $0.afterConnectTimeout = .zero }),
        ("maxRestarts", { $0.maxRestarts = -1 }),
        ("maxSeconds", { $0.maxSeconds = .zero }),
        ("maxLifetime", { $0.maxLifetime = .seconds(-2) ... .seconds(1) }),
        ("checkoutRetries", { $0.checkoutRetries = -1 }),
    ]

    @Test(arguments: 0..<bad.count)
    func aBadOptionIsNamedBeforeAnythingConnects(index: Int) throws {
        let (option, change) = Self.bad[index]
        var config = Config()
        change(&config)
        let script = Script()
        let error = #expect(throws: ConfigurationError.self) {
            _ = try ConnectionPool(options: ScriptedOptions(script: script), configuration: config)
        }
        #expect(error?.option == option)
        #expect(script.record.isEmpty)
    }

    @Test func poolSizeZeroSaysWhatItGot() {
        var config = Config()
        config.poolSize = 0
        #expect(throws: ConfigurationError(option: "poolSize", message: "pool size must be greater or equal to 1, got 0")) {
            try config.validate()
        }
    }

    @Test func defaultsAreTheSeedDefaults() {
        let config = Config()
        #expect(config.poolSize == 1)
        #expect(config.queueTarget == .milliseconds(50))
        #expect(config.queueInterval == .milliseconds(1000))
        #expect(config.idleInterval == .seconds(1))
        #expect(config.idleLimit == nil)
        #expect(config.backoffMin == .seconds(1))
        #expect(config.backoffMax == .seconds(30))
        #expect(config.backoffType == .randExp)
        #expect(config.afterConnectTimeout == .seconds(15))
        #expect(config.maxRestarts == 3)
        #expect(config.maxSeconds == .seconds(5))
        #expect(config.showSensitiveDataOnConnectionError == false)
        #expect(CallOptions().timeout == .seconds(15))
        #expect(CallOptions().queue)
        #expect(CallOptions().checkoutRetries == 3)
    }

    @Test func theEarlierOfTimeoutAndDeadlineWins() {
        let t0 = ContinuousClock.now
        #expect(CallOptions(timeout: .seconds(1)).effectiveDeadline(requestedAt: t0) == t0 + .seconds(1))
        #expect(
            CallOptions(timeout: .seconds(1), deadline: t0 + .milliseconds(10)).effectiveDeadline(requestedAt: t0)
                == t0 + .milliseconds(10)
        )
        #expect(
            CallOptions(timeout: .seconds(1), deadline: t0 + .seconds(5)).effectiveDeadline(requestedAt: t0)
                == t0 + .seconds(1)
        )
        #expect(CallOptions(timeout: nil).effectiveDeadline(requestedAt: t0) == nil)
        #expect(CallOptions(timeout: nil, deadline: t0).effectiveDeadline(requestedAt: t0) == t0)
    }
}
