/// The values a statement binds: by position (`?`, `?NNN`) or by name (`:name`, `@name`, `$name`).
///
/// An array literal makes positional parameters, a dictionary literal named ones:
///
/// ```swift
/// try await conn.execute("INSERT INTO t(a, b) VALUES (?, ?)", [1, "one"])
/// try await conn.execute("INSERT INTO t(a, b) VALUES (:a, :b)", ["a": 1, "b": "one"])
/// ```
///
/// Binding checks the counts: positional parameters must match the statement's parameter count
/// exactly, and every named parameter of the statement needs a value (a key may be written with or
/// without its prefix: `"a"` binds `:a`, `@a` or `$a`; `":a"` binds only `:a`). A key that the
/// statement does not use is an error too, so a typo fails loudly.
public enum SQLiteParameters: Sendable, Hashable {
    /// Values for `?` parameters, in order (`?NNN` takes the NNN-th value, counted from 1).
    case positional([SQLiteValue])
    /// Values for `:name`, `@name` and `$name` parameters, by name.
    case named([String: SQLiteValue])

    /// No parameters.
    public static let none = SQLiteParameters.positional([])

    /// Whether there is no value to bind.
    public var isEmpty: Bool {
        switch self {
        case .positional(let values): values.isEmpty
        case .named(let values): values.isEmpty
        }
    }
}

extension SQLiteParameters: ExpressibleByArrayLiteral {
    /// Makes positional parameters.
    public init(arrayLiteral elements: SQLiteValue...) {
        self = .positional(elements)
    }
}

extension SQLiteParameters: ExpressibleByDictionaryLiteral {
    /// Makes named parameters.
    /// - Precondition: no key appears twice.
    public init(dictionaryLiteral elements: (String, SQLiteValue)...) {
        self = .named(
            Dictionary(elements, uniquingKeysWith: { _, _ in preconditionFailure("duplicate parameter name") })
        )
    }
}
