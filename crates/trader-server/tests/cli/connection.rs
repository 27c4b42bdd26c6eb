//! Needs a PostgreSQL server, hence the `postgres` module (scripts/test
//! leaves `postgres::` tests out when TEST_DATABASE_URL is unset).

mod postgres {
    use crate::support::{alpaca_trader, stderr};

    /// The machines' PostgreSQL trusts every local connection, so a wrong
    /// password is accepted there; an unknown role goes through the same path
    /// and shows that PostgreSQL's own FATAL message reaches the user
    /// (`MultiConnection::establish` would say only "Invalid connection url").
    #[test]
    fn connection_errors_show_the_servers_own_message() {
        let server = trader_db::test_support::postgres_server_url();
        let (scheme, rest) = server.split_once("://").unwrap();
        let host_and_db = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        let url = format!("{scheme}://no_such_role_x:wrong-password@{host_and_db}");
        let dir = tempfile::tempdir().unwrap();
        let out = alpaca_trader(dir.path())
            .args(["init-db", "--database-url", &url])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert!(
            err.contains("role \"no_such_role_x\" does not exist"),
            "PostgreSQL's message: {err}"
        );
        assert!(
            !err.contains("wrong-password"),
            "the password is hidden: {err}"
        );
        assert!(err.contains("no_such_role_x:***@"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}
