//! docker/: images cannot be built on the project's offline machines, so
//! these read the files instead. Every path the Dockerfile copies from the
//! build context exists and is not left out by .dockerignore; secrets and
//! local data are left out; the runtime stage is non-root with its data in
//! a volume and checks its health with `alpaca-trader healthcheck`; the
//! compose file publishes only Caddy, trusts only Caddy's address, and with
//! docker/.env.example names every setting production requires.
//! (hadolint lints the Dockerfile itself: scripts/lint-docker.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_norway::Value;
use trader_server::settings::REQUIRED_IN_PRODUCTION;

use crate::support::{alpaca_trader, stderr};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One Dockerfile instruction: its keyword (upper case) and arguments.
#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
}

/// The instructions, with continuation lines joined and comments dropped
/// (Docker drops comment lines inside a continued instruction too).
fn instructions(dockerfile: &str) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let (keyword, args) = current.split_once(char::is_whitespace).unwrap();
                out.push(Instruction {
                    keyword: keyword.to_ascii_uppercase(),
                    args: args.trim().to_owned(),
                });
                current.clear();
            }
        }
    }
    assert!(
        current.is_empty(),
        "the Dockerfile ends inside an instruction"
    );
    out
}

/// The words of a COPY/ADD, CMD or similar: a JSON array, or split on
/// whitespace.
fn words(args: &str) -> Vec<String> {
    if args.starts_with('[') {
        serde_json::from_str(args).unwrap()
    } else {
        args.split_whitespace().map(str::to_owned).collect()
    }
}

/// (sources, destination) of each COPY/ADD that reads the build context
/// (not `--from` another stage or image).
fn context_copies(dockerfile: &[Instruction]) -> Vec<(Vec<String>, String)> {
    dockerfile
        .iter()
        .filter(|i| i.keyword == "COPY" || i.keyword == "ADD")
        .filter(|i| !i.args.split_whitespace().any(|w| w.starts_with("--from")))
        .map(|i| {
            let flags_left = i
                .args
                .split_whitespace()
                .skip_while(|w| w.starts_with("--"))
                .collect::<Vec<_>>()
                .join(" ");
            let mut all = words(&flags_left);
            let dest = all.pop().unwrap();
            assert!(
                !all.is_empty(),
                "{} without a source: {}",
                i.keyword,
                i.args
            );
            (all, dest)
        })
        .collect()
}

/// .dockerignore as Docker reads it: patterns from the context's root,
/// `*` and `?` within one path segment, `**` across any number, `!`
/// re-includes, the last matching line wins, and a pattern that matches a
/// folder leaves out everything in it.
struct DockerIgnore(Vec<(bool, Vec<String>)>);

impl DockerIgnore {
    fn parse(text: &str) -> Self {
        Self(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|l| {
                    let (include, pattern) = match l.strip_prefix('!') {
                        Some(p) => (true, p.trim()),
                        None => (false, l),
                    };
                    let segments = pattern
                        .trim_start_matches('/')
                        .trim_end_matches('/')
                        .split('/')
                        .filter(|s| !s.is_empty() && *s != ".")
                        .map(str::to_owned)
                        .collect();
                    (include, segments)
                })
                .collect(),
        )
    }

    fn excludes(&self, path: &str) -> bool {
        let path: Vec<&str> = path
            .trim_start_matches("./")
            .trim_end_matches('/')
            .split('/')
            .collect();
        let mut excluded = false;
        for (include, pattern) in &self.0 {
            let pattern: Vec<&str> = pattern.iter().map(String::as_str).collect();
            // The path itself or any folder above it.
            if (1..=path.len()).any(|n| segments_match(&pattern, &path[..n])) {
                excluded = !include;
            }
        }
        excluded
    }
}

fn segments_match(pattern: &[&str], path: &[&str]) -> bool {
    match (pattern.split_first(), path.split_first()) {
        (None, None) => true,
        (Some((&"**", rest)), _) => {
            segments_match(rest, path)
                || path
                    .split_first()
                    .is_some_and(|(_, tail)| segments_match(pattern, tail))
        }
        (Some((p, prest)), Some((s, srest))) => {
            wildcard(p.as_bytes(), s.as_bytes()) && segments_match(prest, srest)
        }
        _ => false,
    }
}

fn wildcard(p: &[u8], s: &[u8]) -> bool {
    match (p.split_first(), s.split_first()) {
        (None, None) => true,
        (Some((b'*', rest)), _) => {
            wildcard(rest, s) || s.split_first().is_some_and(|(_, tail)| wildcard(p, tail))
        }
        (Some((b'?', prest)), Some((_, srest))) => wildcard(prest, srest),
        (Some((a, prest)), Some((b, srest))) => a == b && wildcard(prest, srest),
        _ => false,
    }
}

#[test]
fn dockerignore_matcher_follows_dockers_rules() {
    let ignore = DockerIgnore::parse("data\n**/*.db\n*.log\n**/.env.*\n!.env.example\n");
    assert!(ignore.excludes("data"));
    assert!(ignore.excludes("data/secrets.env"));
    assert!(!ignore.excludes("database/x"));
    assert!(ignore.excludes("a.db"));
    assert!(ignore.excludes("deep/er/a.db"));
    assert!(ignore.excludes("x.log"));
    // A single `*` stays in the root folder.
    assert!(!ignore.excludes("crates/x.log"));
    assert!(ignore.excludes(".env.local"));
    assert!(!ignore.excludes(".env.example"));
}

/// Every context path the Dockerfile copies exists, is not left out by
/// .dockerignore, and neither is any tracked file inside it; what must
/// never reach an image is left out.
#[test]
fn dockerfile_copies_only_paths_that_exist_and_dockerignore_keeps_secrets_out() {
    let dockerfile = instructions(&read("docker/Dockerfile"));
    let ignore = DockerIgnore::parse(&read(".dockerignore"));
    let copies = context_copies(&dockerfile);
    assert!(copies.len() >= 5, "{copies:?}");
    let mut sources = BTreeSet::new();
    for (srcs, _) in &copies {
        for src in srcs {
            assert!(
                !src.contains(['*', '?', '$']),
                "`{src}`: name paths exactly so this test can check them"
            );
            assert!(
                repo().join(src).exists(),
                "docker/Dockerfile copies `{src}`, which does not exist"
            );
            assert!(
                !ignore.excludes(src),
                "docker/Dockerfile copies `{src}`, which .dockerignore leaves out"
            );
            sources.insert(src.trim_end_matches('/').to_owned());
        }
    }
    let tracked = std::process::Command::new("git")
        .arg("-C")
        .arg(repo())
        .args(["ls-files", "-z", "--"])
        .args(&sources)
        .output()
        .expect("git lists the tracked files the Dockerfile copies");
    assert!(tracked.status.success(), "{}", stderr(&tracked));
    let tracked = String::from_utf8(tracked.stdout).unwrap();
    let tracked: Vec<&str> = tracked.split('\0').filter(|f| !f.is_empty()).collect();
    assert!(
        tracked
            .iter()
            .any(|f| f.ends_with("trader-server/src/main.rs"))
    );
    for file in tracked {
        assert!(
            !ignore.excludes(file),
            "`{file}` is copied into the image but .dockerignore leaves it out"
        );
    }

    for secret in [
        "data",
        "data/secrets.env",
        "data/alpaca-trader.db",
        "data/setup-token",
        ".env",
        "docker/.env",
        "crates/trader-server/.env",
        ".env.production",
        "somewhere/trader.db",
        "somewhere/trader.db-wal",
        "target/debug/alpaca-trader",
        "crates/trader-server/target/x",
        "frontend/dist/index.html",
        "frontend/tools/node_modules/binaryen/package.json",
        "frontend/e2e/node_modules/axe-core/package.json",
        ".git/config",
    ] {
        assert!(ignore.excludes(secret), ".dockerignore lets `{secret}` in");
    }
}

/// The runtime stage: the binary and the built web app only, a numeric
/// non-root user, data in a volume, the health check through the binary,
/// and no key set in the image.
#[test]
fn dockerfile_runtime_is_non_root_with_a_volume_and_the_healthcheck_command() {
    let dockerfile = instructions(&read("docker/Dockerfile"));
    let last_from = dockerfile
        .iter()
        .rposition(|i| i.keyword == "FROM")
        .unwrap();
    let runtime = &dockerfile[last_from..];
    let find = |keyword: &str| -> Vec<&Instruction> {
        runtime.iter().filter(|i| i.keyword == keyword).collect()
    };

    let user = find("USER");
    let user = &user.last().expect("the runtime stage sets USER").args;
    let uid: u32 =
        user.split(':').next().unwrap().parse().unwrap_or_else(|_| {
            panic!("USER `{user}`: a numeric uid, so runAsNonRoot can check it")
        });
    assert_ne!(uid, 0);

    let env: Vec<(String, String)> = find("ENV")
        .iter()
        .flat_map(|i| i.args.split_whitespace())
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let env_of = |name: &str| {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("the runtime stage sets no {name}"))
    };
    let volumes: Vec<String> = find("VOLUME").iter().flat_map(|i| words(&i.args)).collect();
    assert!(volumes.contains(&env_of("DATA_DIR")), "{volumes:?}");
    assert_eq!(env_of("HOST"), "0.0.0.0");

    // SPA_DIR is where the web app stage's dist folder is copied to.
    let spa_dir = env_of("SPA_DIR");
    assert!(
        runtime.iter().any(|i| i.keyword == "COPY"
            && i.args.starts_with("--from=spa ")
            && i.args.contains("/frontend/dist ")
            && i.args.ends_with(&format!(" {spa_dir}"))),
        "no COPY --from=spa of frontend/dist to SPA_DIR ({spa_dir})"
    );

    let health = find("HEALTHCHECK");
    let health = &health.last().expect("a HEALTHCHECK").args;
    let cmd = health.split_once("CMD ").expect("HEALTHCHECK ... CMD").1;
    assert_eq!(words(cmd), ["alpaca-trader", "healthcheck"]);

    // No key in any stage: they come from the environment at run time.
    for i in dockerfile
        .iter()
        .filter(|i| i.keyword == "ENV" || i.keyword == "ARG")
    {
        for name in REQUIRED_IN_PRODUCTION.iter().chain(&[
            "DATABASE_URL",
            "POSTGRES_PASSWORD",
            "MARKET_DATA_SECRET_KEY",
        ]) {
            assert!(
                !i.args.contains(name),
                "{} {}: keys do not belong in an image",
                i.keyword,
                i.args
            );
        }
    }
}

fn yaml(path: &str) -> Value {
    serde_norway::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The NAME=value lines of an env file (comments and blank lines skipped).
fn env_file(path: &str) -> Vec<(String, String)> {
    read(path)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("{path}: `{l}` is not NAME=value"));
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Null => Vec::new(),
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items
            .iter()
            .map(|i| i.as_str().unwrap().to_owned())
            .collect(),
        other => panic!("not a string or a list of strings: {other:?}"),
    }
}

/// A service's `environment` as (name, value) pairs, map or list form.
fn environment(service: &Value) -> Vec<(String, String)> {
    match &service["environment"] {
        Value::Mapping(m) => m
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => serde_norway::to_string(other).unwrap().trim().to_owned(),
                };
                (k.as_str().unwrap().to_owned(), v)
            })
            .collect(),
        other => strings(other)
            .into_iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (kv, String::new()),
            })
            .collect(),
    }
}

/// docker-compose.yml: only Caddy is published; the app trusts Caddy's
/// fixed address and nothing else; PostgreSQL has a health check and a
/// volume; every file it names exists.
#[test]
fn compose_publishes_only_caddy_and_trusts_only_its_address() {
    let compose = yaml("docker/docker-compose.yml");
    let services = &compose["services"];
    let (app, db, caddy) = (&services["app"], &services["db"], &services["caddy"]);
    for (name, service) in [("app", app), ("db", db), ("caddy", caddy)] {
        assert!(service.is_mapping(), "no `{name}` service");
    }
    assert!(
        app["ports"].is_null(),
        "the app's port must not be published"
    );
    assert!(db["ports"].is_null(), "PostgreSQL must not be published");
    let published = strings(&caddy["ports"]);
    for port in ["80:80", "443:443"] {
        assert!(published.iter().any(|p| p == port), "{published:?}");
    }

    let docker = repo().join("docker");
    let build = &app["build"];
    let context = docker.join(build["context"].as_str().unwrap());
    assert!(
        context
            .join(build["dockerfile"].as_str().unwrap())
            .is_file()
    );
    assert!(context.join(".dockerignore").is_file());
    for volume in strings(&caddy["volumes"]) {
        if let Some(file) = volume.strip_prefix("./") {
            let file = file.split(':').next().unwrap();
            assert!(docker.join(file).is_file(), "caddy mounts missing {file}");
        }
    }
    let caddyfile = read("docker/Caddyfile");
    assert!(caddyfile.contains("reverse_proxy app:5000"), "{caddyfile}");

    assert!(!db["healthcheck"]["test"].is_null());
    assert!(
        strings(&db["volumes"])
            .iter()
            .any(|v| v.ends_with(":/var/lib/postgresql/data"))
    );
    // The app waits for a healthy database, Caddy for a healthy app.
    assert_eq!(
        app["depends_on"]["db"]["condition"].as_str(),
        Some("service_healthy")
    );
    assert_eq!(
        caddy["depends_on"]["app"]["condition"].as_str(),
        Some("service_healthy")
    );
    assert!(
        strings(&app["volumes"])
            .iter()
            .any(|v| v.ends_with(":/var/lib/alpaca-trader/data"))
    );

    // TRUSTED_PROXIES is Caddy's fixed address alone, inside the fixed
    // subnet of a network the app shares with Caddy.
    let env = environment(app);
    let trusted = &env
        .iter()
        .find(|(k, _)| k == "TRUSTED_PROXIES")
        .expect("the app sets TRUSTED_PROXIES")
        .1;
    let trusted: std::net::IpAddr = trusted
        .parse()
        .unwrap_or_else(|_| panic!("TRUSTED_PROXIES `{trusted}`: one address, Caddy's"));
    let caddy_networks = caddy["networks"].as_mapping().unwrap();
    let (network, caddy_ip) = caddy_networks
        .iter()
        .find_map(|(net, cfg)| {
            let ip = cfg["ipv4_address"].as_str()?;
            Some((
                net.as_str().unwrap().to_owned(),
                ip.parse::<std::net::IpAddr>().unwrap(),
            ))
        })
        .expect("Caddy has a fixed ipv4_address");
    assert_eq!(trusted, caddy_ip);
    assert!(
        strings(&app["networks"]).contains(&network),
        "the app is not on Caddy's network `{network}`"
    );
    let subnet: ipnet::IpNet = compose["networks"][network.as_str()]["ipam"]["config"][0]["subnet"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(subnet.contains(&caddy_ip), "{caddy_ip} outside {subnet}");
    assert!(
        !strings(&db["networks"]).contains(&network),
        "PostgreSQL belongs on a network Caddy is not on"
    );
}

/// Between them, the app's `environment` and docker/.env.example (its
/// env_file's template) name every setting production requires; the
/// template holds no value for a secret; every `${VAR}` the compose file
/// uses is in the template.
#[test]
fn compose_and_env_example_name_every_required_setting_and_no_key() {
    let compose = yaml("docker/docker-compose.yml");
    let app = &compose["services"]["app"];
    assert_eq!(strings(&app["env_file"]), [".env"]);
    let example = env_file("docker/.env.example");
    let env = environment(app);
    let named: BTreeSet<&str> = example
        .iter()
        .chain(&env)
        .map(|(k, _)| k.as_str())
        .collect();
    for required in
        REQUIRED_IN_PRODUCTION
            .iter()
            .chain(&["APP_ENV", "DATABASE_URL", "PUBLIC_URL", "HOST"])
    {
        assert!(
            named.contains(required),
            "neither docker-compose.yml nor docker/.env.example names {required}"
        );
    }
    let value = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    assert_eq!(value("APP_ENV"), Some("production"));
    assert!(value("DATABASE_URL").unwrap().starts_with("postgres://"));

    // No real key in the template, nor in the compose file.
    for (name, v) in &example {
        if REQUIRED_IN_PRODUCTION.contains(&name.as_str()) || name.contains("PASSWORD") {
            assert!(v.is_empty(), "docker/.env.example: {name} has a value");
        }
    }
    for name in REQUIRED_IN_PRODUCTION {
        assert!(
            env.iter().all(|(k, _)| k != name),
            "{name} belongs in docker/.env (env_file), not in docker-compose.yml"
        );
    }

    let text = read("docker/docker-compose.yml");
    let mut used = BTreeSet::new();
    for part in text.split("${").skip(1) {
        let name: String = part
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        used.insert(name);
    }
    assert!(used.contains("POSTGRES_PASSWORD"), "{used:?}");
    for name in used {
        assert!(
            example.iter().any(|(k, _)| *k == name),
            "docker-compose.yml uses ${{{name}}}, which docker/.env.example does not name"
        );
    }
}

/// REQUIRED_IN_PRODUCTION is what `serve` really refuses to start
/// without: each one missing, the others set, is exit 1 naming it.
#[test]
fn serve_in_production_refuses_to_start_without_each_required_setting() {
    let values = [
        ("SECRET_KEY", trader_security::generate_secret_key()),
        ("ENCRYPTION_KEY", trader_security::generate_encryption_key()),
    ];
    assert_eq!(
        values.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        REQUIRED_IN_PRODUCTION
    );
    let dir = tempfile::tempdir().unwrap();
    for missing in REQUIRED_IN_PRODUCTION {
        let mut cmd = alpaca_trader(dir.path());
        cmd.args(["serve", "--port", "0"])
            .env("APP_ENV", "production");
        for (name, value) in values.iter().filter(|(name, _)| *name != missing) {
            cmd.env(name, value);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{missing}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("{missing} is not set")),
            "{}",
            stderr(&out)
        );
    }
}
