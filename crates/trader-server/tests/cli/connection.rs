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

    /// A real wrong password: a throw-away PostgreSQL cluster with
    /// scram-sha-256 authentication (the machines' own server trusts local
    /// connections), started with the server's own binaries as the
    /// `postgres` user (so this needs root, as on the project's machines).
    #[test]
    fn a_wrong_password_shows_postgresqls_own_message() {
        use std::process::Command;
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's binaries under /usr/lib/postgresql")
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .find(|p| p.join("initdb").is_file())
            .expect("initdb");
        let dir = tempfile::tempdir().unwrap();
        let run = |cmd: &mut Command| {
            let out = cmd.output().unwrap();
            assert!(
                out.status.success(),
                "{cmd:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(Command::new("chown").arg("postgres").arg(dir.path()));
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, "the-right-password\n").unwrap();
        run(Command::new("chown").arg("postgres").arg(&pwfile));
        let data = dir.path().join("data");
        run(Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display())));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        run(Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-o")
            .arg(format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1",
                dir.path().display()
            ))
            .arg("-l")
            .arg(dir.path().join("log"))
            .args(["-w", "start"]));
        let stop = scopeguard(|| {
            let _ = Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(bin.join("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .args(["-m", "immediate", "stop"])
                .output();
        });

        let cwd = tempfile::tempdir().unwrap();
        let wrong = alpaca_trader(cwd.path())
            .args([
                "init-db",
                "--database-url",
                &format!("postgres://postgres:not-the-password@127.0.0.1:{port}/postgres"),
            ])
            .output()
            .unwrap();
        assert_eq!(wrong.status.code(), Some(1));
        let err = stderr(&wrong);
        assert!(
            err.contains("password authentication failed for user \"postgres\""),
            "{err}"
        );
        assert!(!err.contains("not-the-password"), "{err}");
        let right = alpaca_trader(cwd.path())
            .args([
                "init-db",
                "--database-url",
                &format!("postgres://postgres:the-right-password@127.0.0.1:{port}/postgres"),
            ])
            .output()
            .unwrap();
        assert!(right.status.success(), "{}", stderr(&right));
        drop(stop);
    }

    /// Runs `f` when dropped, so the cluster stops even if an assert fails.
    fn scopeguard(f: impl FnOnce()) -> impl Drop {
        struct Guard<F: FnOnce()>(Option<F>);
        impl<F: FnOnce()> Drop for Guard<F> {
            fn drop(&mut self) {
                if let Some(f) = self.0.take() {
                    f();
                }
            }
        }
        Guard(Some(f))
    }
}
