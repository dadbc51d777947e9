import DBConnection
import DBConnectionPostgres
import Testing

@Suite struct PGConnectionOptionsTests {
    @Test func urlGivesEveryPartPercentDecoded() throws {
        let options = try PGConnection.Options(
            url: "postgresql://us%40er:p%3Ass%2Fw0rd@db.example.com:6543/my%20db"
                + "?sslmode=verify-full&sslrootcert=/etc/ca.pem&application_name=app%201&connect_timeout=3"
        )
        #expect(options.user == "us@er")
        #expect(options.password == "p:ss/w0rd")
        #expect(options.host == "db.example.com")
        #expect(options.port == 6543)
        #expect(options.database == "my db")
        #expect(options.tls == .verifyFull(rootCertificatePath: "/etc/ca.pem"))
        #expect(options.applicationName == "app 1")
        #expect(options.connectTimeout == .seconds(3))
    }

    @Test func urlDefaultsAreLibpqs() throws {
        let options = try PGConnection.Options(url: "postgres://app@")
        #expect(options.host == "localhost")
        #expect(options.port == 5432)
        #expect(options.database == nil)
        #expect(options.password == nil)
        #expect(options.tls == .prefer)
        #expect(options.connectTimeout == .seconds(10))
        #expect(options.statementCacheSize == 100)
        #expect(options.directExecute)
    }

    @Test func directExecuteTurnsOffFromTheURLAndShowsInTheDescription() throws {
        let off = try PGConnection.Options(url: "postgres://app@h/db?direct_execute=off")
        #expect(!off.directExecute)
        #expect(off.description.hasSuffix("&direct_execute=off"))
        #expect(try PGConnection.Options(url: off.description).directExecute == false)
        let on = try PGConnection.Options(url: "postgres://app@h/db?direct_execute=on")
        #expect(on.directExecute)
        #expect(!on.description.contains("direct_execute"))
    }

    @Test(arguments: [
        ("disable", PGConnection.TLSMode.disable),
        ("prefer", .prefer),
        ("require", .require),
        ("verify-ca", .verifyCA(rootCertificatePath: nil)),
        ("verify-full", .verifyFull(rootCertificatePath: nil)),
    ])
    func sslmodeMapsToTheTLSMode(_ sslmode: String, _ mode: PGConnection.TLSMode) throws {
        #expect(try PGConnection.Options(url: "postgres://app@h/db?sslmode=\(sslmode)").tls == mode)
        #expect(mode.sslmode == sslmode)
    }

    @Test func ipv6AndUnixSocketHosts() throws {
        let ipv6 = try PGConnection.Options(url: "postgres://app@[::1]:5433/db")
        #expect(ipv6.host == "::1")
        #expect(ipv6.port == 5433)
        #expect(!ipv6.isUnixSocket)
        let socket = try PGConnection.Options(url: "postgres://app@/db?host=%2Fvar%2Frun%2Fpostgresql&port=5434")
        #expect(socket.host == "/var/run/postgresql")
        #expect(socket.port == 5434)
        #expect(socket.isUnixSocket)
    }

    @Test(arguments: [
        ("mysql://app:secret@h/db", "scheme"),
        ("postgres://app:secret@h:99999/db", "port"),
        ("postgres://app:secret@h:abc/db", "port"),
        ("postgres://:secret@h/db", "no user"),
        ("postgres://h/db", "no user"),
        ("postgres://app:secret@h/db?sslmode=allow", "sslmode"),
        ("postgres://app:secret@h/db?bogus=1", "unknown option"),
        ("postgres://app:secret@h/db?connect_timeout=soon", "connect_timeout"),
        ("postgres://app:secret@h/db?direct_execute=maybe", "direct_execute must be on or off"),
        ("postgres://app:sec%ZZret@h/db", "percent-escape"),
        ("postgres://app:secret@[::1/db", "IPv6"),
        ("app:secret@h/db", "://"),
    ])
    func badURLsThrowWithoutThePassword(_ url: String, _ fragment: String) {
        do {
            _ = try PGConnection.Options(url: url)
            Issue.record("expected an error for \(url)")
        } catch let error as ConfigurationError {
            #expect(error.option == "url")
            #expect(error.message.contains(fragment), "\(error.message)")
            #expect(!"\(error)".contains("secret"))
            #expect(!"\(error)".contains("sec%ZZret"))
        } catch {
            Issue.record("expected a ConfigurationError, got \(error)")
        }
    }

    @Test func descriptionHidesThePassword() throws {
        let options = try PGConnection.Options(url: "postgres://app:hunter2@db:5432/shop?application_name=x")
        #expect(options.description == "postgres://app:***@db:5432/shop?sslmode=prefer&application_name=x")
        #expect(!"\(options)".contains("hunter2"))
        #expect(!String(reflecting: options.description).contains("hunter2"))
        let noPassword = PGConnection.Options(host: "/tmp", port: 5433, user: "u", tls: .disable)
        #expect(noPassword.description == "postgres://u@/?host=/tmp&port=5433&sslmode=disable")
    }

    @Test func beginStatementListsTheModes() {
        #expect(PGConnection.TransactionOptions().beginStatement == "BEGIN")
        #expect(PGConnection.TransactionOptions.serializable.beginStatement == "BEGIN ISOLATION LEVEL SERIALIZABLE")
        #expect(
            PGConnection.TransactionOptions(isolationLevel: .repeatableRead, readOnly: true, deferrable: false)
                .beginStatement == "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY, NOT DEFERRABLE"
        )
        #expect(
            PGConnection.TransactionOptions(readOnly: false, deferrable: true).beginStatement
                == "BEGIN READ WRITE, DEFERRABLE"
        )
    }
}
