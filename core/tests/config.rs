//! `slotshift::config` end to end: the shared URL table (`tests/fixtures/urls.json`), YAML files
//! in GitLab's shapes, named instances with fallbacks, real servers reached through
//! `to_connection_info`, and the canary: a password that must appear in no Debug, Display, error
//! or log line.

// The helpers below (logger, fixture reader) are test code too: a broken fixture should panic.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::{Mutex, OnceLock};

use proptest::prelude::*;
use serde_json::{json, Value as Json};
use slotshift::config::{
    ConfigError, Deployment, Endpoint, Instances, Protocol, Secret, ServerConfig,
};
use slotshift::testing::Standalone;

const CANARY: &str = "canary-7f3a9";

// ---- a `log` logger that keeps every line, so the canary test can read them ----

struct Capture;
static CAPTURE: Capture = Capture;
static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{} {}: {}", record.level(), record.target(), record.args());
        LINES.lock().unwrap().push(line);
    }
    fn flush(&self) {}
}

fn capture_logs() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        log::set_logger(&CAPTURE).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
    });
}

fn log_lines() -> Vec<String> {
    LINES.lock().unwrap().clone()
}

// ---- describing a deployment as the fixture does ----

fn describe_server(s: &ServerConfig) -> Json {
    let mut out = json!({
        "db": s.db,
        "username": s.username,
        "password": s.password.as_ref().map(Secret::expose),
        "tls": s.uses_tls(),
        "insecure": s.tls.as_ref().is_some_and(|t| t.insecure),
        "ca_file": s.tls.as_ref().and_then(|t| t.ca_file.as_ref()).map(|p| p.display().to_string()),
        "cert_file": s.tls.as_ref().and_then(|t| t.cert_file.as_ref()).map(|p| p.display().to_string()),
        "key_file": s.tls.as_ref().and_then(|t| t.key_file.as_ref()).map(|p| p.display().to_string()),
        "server_name": s.tls.as_ref().and_then(|t| t.server_name.clone()),
        "protocol": match s.protocol { Protocol::Resp2 => "resp2", Protocol::Resp3 => "resp3" },
        "connect_timeout_ms": s.connect_timeout.as_millis() as u64,
        "command_timeout_ms": s.command_timeout.map(|d| d.as_millis() as u64),
    });
    match &s.endpoint {
        Endpoint::Tcp { host, port } => {
            out["host"] = json!(host);
            out["port"] = json!(port);
        }
        Endpoint::Unix(path) => out["path"] = json!(path.display().to_string()),
    }
    out
}

fn describe(d: &Deployment) -> Json {
    let mut out = json!({
        "kind": d.kind(),
        "servers": d.servers().into_iter().map(describe_server).collect::<Vec<_>>(),
    });
    if let Deployment::Sentinel(s) = d {
        out["master_name"] = json!(s.master_name);
        out["sentinels"] = json!(s
            .sentinels
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>());
        out["sentinel_username"] = json!(s.sentinel_username);
        out["sentinel_password"] = json!(s.sentinel_password.as_ref().map(Secret::expose));
    }
    out
}

/// Every field of `expected` equals the same field of `actual` (lists: same length, each
/// element a subset).
fn subset_mismatch(expected: &Json, actual: &Json, at: &str) -> Option<String> {
    match (expected, actual) {
        (Json::Object(e), Json::Object(a)) => e.iter().find_map(|(k, v)| match a.get(k) {
            Some(av) => subset_mismatch(v, av, &format!("{at}.{k}")),
            None => Some(format!("{at}.{k}: missing")),
        }),
        (Json::Array(e), Json::Array(a)) if e.len() == a.len() => e
            .iter()
            .zip(a)
            .enumerate()
            .find_map(|(i, (ev, av))| subset_mismatch(ev, av, &format!("{at}[{i}]"))),
        _ if expected == actual => None,
        _ => Some(format!("{at}: expected {expected}, got {actual}")),
    }
}

#[test]
fn the_table_checker_sees_differences() {
    let actual = json!({"kind": "server", "servers": [{"host": "h", "port": 1, "db": 0}]});
    assert_eq!(
        subset_mismatch(&json!({"servers": [{"port": 1}]}), &actual, ""),
        None
    );
    assert!(subset_mismatch(&json!({"servers": [{"port": 2}]}), &actual, "").is_some());
    assert!(subset_mismatch(&json!({"servers": [{}, {}]}), &actual, "").is_some());
    assert!(subset_mismatch(&json!({"tls": false}), &actual, "").is_some());
}

fn fixture() -> Json {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/urls.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn url_table_valid_urls_parse_to_the_expected_fields() {
    let table = fixture();
    let valid = table["valid"].as_array().unwrap();
    assert!(valid.len() >= 30, "{} valid URLs", valid.len());
    let mut failures = Vec::new();
    for case in valid {
        let url = case["url"].as_str().unwrap();
        match Deployment::parse(url) {
            Ok(d) => {
                if let Some(m) = subset_mismatch(&case["expect"], &describe(&d), "") {
                    failures.push(format!("{url}: {m}"));
                }
                if d.to_string() != case["display"].as_str().unwrap() {
                    failures.push(format!("{url}: display {d}"));
                }
            }
            Err(e) => failures.push(format!("{url}: error {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn url_table_invalid_urls_give_the_exact_error() {
    let table = fixture();
    let invalid = table["invalid"].as_array().unwrap();
    assert!(invalid.len() >= 20, "{} invalid URLs", invalid.len());
    let mut failures = Vec::new();
    for case in invalid {
        let url = case["url"].as_str().unwrap();
        let expected = case["error"].as_str().unwrap();
        match Deployment::parse(url) {
            Ok(d) => failures.push(format!("{url}: parsed as {d}")),
            Err(e) => {
                let text = e.to_string();
                if text != expected {
                    failures.push(format!("{url}:\n  expected {expected}\n  got      {text}"));
                }
                assert!(!format!("{e:?}").contains(CANARY), "{e:?}");
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn display_reads_back_to_the_same_deployment() {
    for case in fixture()["valid"].as_array().unwrap() {
        let d = Deployment::parse(case["url"].as_str().unwrap()).unwrap();
        let again = Deployment::parse(&d.to_string()).unwrap();
        assert_eq!(again.to_string(), d.to_string());
        assert_eq!(again.kind(), d.kind());
    }
}

#[test]
fn server_parse_agrees_with_deployment_and_refuses_several_hosts() {
    for case in fixture()["valid"].as_array().unwrap() {
        let url = case["url"].as_str().unwrap();
        if let Ok(Deployment::Server(s)) = Deployment::parse(url) {
            assert_eq!(ServerConfig::parse(url).unwrap(), s, "{url}");
        }
    }
    let err = ServerConfig::parse("redis://:pw@h1:7000,h2:7001").unwrap_err();
    assert_eq!(
        err.to_string(),
        "`redis://:***@h1:7000,h2:7001` names 2 hosts where one server was expected (a cluster seed list is a Deployment)"
    );
    let err = ServerConfig::parse("redis+sentinel://s1/mymaster").unwrap_err();
    assert_eq!(
        err.to_string(),
        "`redis+sentinel://s1/mymaster` names a Sentinel deployment where one server was expected"
    );
    assert!(matches!(
        ServerConfig::parse(""),
        Err(ConfigError::EmptyUrl)
    ));
}

#[test]
fn from_urls_builds_clusters_from_several_urls() {
    let none: [&str; 0] = [];
    assert_eq!(
        Deployment::from_urls(&none).unwrap_err().to_string(),
        "no Redis URL or node given"
    );
    let one = Deployment::from_urls(&["redis://h1:7000"]).unwrap();
    assert_eq!(one.kind(), "server");
    let d = Deployment::from_urls(&["redis://:pw@h1:7000", "h2:7001", "redis://h3:7002,h4:7003"])
        .unwrap();
    let Deployment::Cluster { seeds } = &d else {
        panic!("{d:?}")
    };
    let hosts: Vec<String> = seeds.iter().map(|s| s.endpoint.to_string()).collect();
    assert_eq!(hosts, ["h1:7000", "h2:7001", "h3:7002", "h4:7003"]);
    assert_eq!(seeds[0].password.as_ref().unwrap().expose(), "pw");
    assert!(seeds[1].password.is_none());
    let err = Deployment::from_urls(&["redis://h1:7000", "redis+sentinel://s/m"]).unwrap_err();
    assert!(matches!(err, ConfigError::NotAServer { .. }), "{err}");
}

// ---- YAML ----

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn redis_yml_keyed_by_environment_with_gitlab_fallbacks() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "redis.yml",
        "production:
  cache:
    cluster:
      - host: 10.0.0.1
        port: 7000
      - redis://10.0.0.2:7001
      - 10.0.0.3:7002
    username: app
    password: s3cret
  shared_state: redis://state.internal:6379/1
  queues:
    url: redis://:from-url@master-queues/3
    password: from-key
    sentinels:
      - host: s1.internal
        port: 26379
      - host: s2.internal
    sentinel_password: sentinel-pw
development:
  cache: redis://localhost:6379
",
    );
    let instances = Instances::load_dir(dir.path(), "production")
        .unwrap()
        .with_gitlab_fallbacks();
    assert_eq!(instances.names(), ["cache", "queues", "shared_state"]);

    let cache = instances.resolve("cache").unwrap();
    assert_eq!(
        cache.to_string(),
        "redis://app:***@10.0.0.1:7000,10.0.0.2:7001,10.0.0.3:7002"
    );
    for seed in cache.servers() {
        assert_eq!(seed.password.as_ref().unwrap().expose(), "s3cret");
    }
    // rate_limiting is not configured: GitLab falls back to cache.
    assert_eq!(instances.resolve("rate_limiting").unwrap(), cache);
    // sessions falls back to shared_state.
    assert_eq!(
        instances.resolve("sessions").unwrap().to_string(),
        "redis://state.internal:6379/1"
    );
    let Deployment::Sentinel(queues) = instances.resolve("queues").unwrap() else {
        panic!("queues is a sentinel deployment")
    };
    assert_eq!(queues.master_name, "master-queues");
    assert_eq!(queues.server.db, 3);
    // An explicit key wins over the URL.
    assert_eq!(
        queues.server.password.as_ref().unwrap().expose(),
        "from-key"
    );
    assert_eq!(
        queues.sentinel_password.as_ref().unwrap().expose(),
        "sentinel-pw"
    );
    assert_eq!(
        queues.sentinels,
        [
            Endpoint::Tcp {
                host: "s1.internal".into(),
                port: 26379
            },
            Endpoint::Tcp {
                host: "s2.internal".into(),
                port: 26379
            },
        ]
    );
    let err = instances.resolve("chat").unwrap_err();
    assert_eq!(err.to_string(), "Redis instance `chat` is not configured");
}

#[test]
fn gitlab_precedence_across_redis_yml_instance_files_and_resque_yml() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "redis.yml",
        "production:\n  sessions: redis://from-redis-yml-sessions\n  cache: redis://from-redis-yml-cache\n",
    );
    write(
        dir.path(),
        "redis.sessions.yml",
        "production:\n  url: redis://from-sessions-file\n",
    );
    write(
        dir.path(),
        "redis.shared_state.yml",
        "production:\n  url: redis://from-shared-state-file\n",
    );
    write(
        dir.path(),
        "redis.rate_limiting.yml",
        "production:\n  url: redis://from-rate-limiting-file\n",
    );
    write(
        dir.path(),
        "resque.yml",
        "production: redis://from-resque\n",
    );
    let i = Instances::load_dir(dir.path(), "production")
        .unwrap()
        .with_gitlab_fallbacks();
    let host = |name: &str| match i.resolve(name).unwrap() {
        Deployment::Server(s) => s.endpoint.to_string(),
        other => panic!("{other}"),
    };
    // 1) redis.yml[name] beats the instance's own file.
    assert_eq!(host("sessions"), "from-redis-yml-sessions:6379");
    // 2) the instance's own file.
    assert_eq!(host("rate_limiting"), "from-rate-limiting-file:6379");
    // 2') no own file: the fallback's own file beats redis.yml[fallback] (3) and resque.yml (4).
    assert_eq!(host("action_cable"), "from-shared-state-file:6379");
    // 3) redis.yml[fallback] beats resque.yml.
    assert_eq!(host("repository_cache"), "from-redis-yml-cache:6379");
    // 4) resque.yml serves everything else.
    assert_eq!(host("queues"), "from-resque:6379");
    assert_eq!(host("anything"), "from-resque:6379");
}

#[test]
fn flat_files_fallback_keys_and_cycles() {
    let dir = tempfile::tempdir().unwrap();
    let flat = write(
        dir.path(),
        "flat.yml",
        "shared_state: redis://state:6379
sessions:
  fallback: shared_state
a: {fallback: b}
b: {fallback: c}
c: {fallback: a}
",
    );
    let mut i = Instances::new();
    i.add_shared_file(&flat, None).unwrap();
    assert_eq!(
        i.resolve("sessions").unwrap().to_string(),
        "redis://state:6379"
    );
    assert_eq!(
        i.fallback_chain("sessions").unwrap(),
        ["sessions", "shared_state"]
    );
    let err = i.resolve("a").unwrap_err();
    assert_eq!(err.to_string(), "fallback cycle: a -> b -> c -> a");
    let err = i.resolve("c").unwrap_err();
    assert_eq!(err.to_string(), "fallback cycle: c -> a -> b -> c");

    let i = Instances::new()
        .with_fallback("x", "y")
        .with_fallback("y", "z");
    let err = i.resolve("x").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Redis instance `x` is not configured, nor is any instance it falls back to (x -> y -> z)"
    );
    let i = i.with_fallback("z", "x");
    assert!(
        matches!(i.resolve("y"), Err(ConfigError::FallbackCycle { cycle }) if cycle == ["y", "z", "x", "y"])
    );

    // A programmatic fallback loses to a `fallback:` key in a file.
    let mut i = Instances::new().with_fallback("sessions", "nowhere");
    i.add_shared_file(&flat, None).unwrap();
    assert_eq!(
        i.resolve("sessions").unwrap().to_string(),
        "redis://state:6379"
    );
    // An instance file without environment keys is the instance value itself.
    let own = write(
        dir.path(),
        "own.yml",
        "url: rediss://own:6380\nssl_params: {ca_file: /etc/ca.pem}\n",
    );
    i.add_instance_file("own", &own, None).unwrap();
    let own = i.resolve("own").unwrap();
    let tls = own.servers()[0].tls.clone().unwrap();
    assert_eq!(tls.ca_file.unwrap(), Path::new("/etc/ca.pem"));
    assert!(!tls.insecure);
    i.add_url("direct", "unix:///tmp/redis.sock?db=2").unwrap();
    assert_eq!(
        i.resolve("direct").unwrap().to_string(),
        "unix:///tmp/redis.sock?db=2"
    );
}

#[test]
fn source_config_files_in_the_operators_shape() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "a.yml",
        "url: redis://old.internal:6379/2\nusername: app\npassword: pw\n",
    );
    let d = Deployment::from_yaml_file(&p).unwrap();
    assert_eq!(d.to_string(), "redis://app:***@old.internal:6379/2");

    let p = write(
        dir.path(),
        "b.yml",
        "nodes:\n  - {host: new1.internal, port: 7000}\n  - {host: '::1', port: 7001}\npassword: 12345\ndb: 0\n",
    );
    let d = Deployment::from_yaml_file(&p).unwrap();
    assert_eq!(d.kind(), "cluster");
    assert_eq!(d.to_string(), "redis://:***@new1.internal:7000,[::1]:7001");
    assert_eq!(d.servers()[1].password.as_ref().unwrap().expose(), "12345");

    let p = write(
        dir.path(),
        "c.yml",
        "host: old.internal\nport: 6380\nssl: true\nconnect_timeout: 0.5\nread_timeout: 3\n",
    );
    let d = Deployment::from_yaml_file(&p).unwrap();
    assert_eq!(
        d.to_string(),
        "rediss://old.internal:6380?connect_timeout=500ms&command_timeout=3s"
    );

    // `ssl_params` tune TLS but do not turn it on (as in redis-rb).
    let p = write(
        dir.path(),
        "t.yml",
        "url: redis://h\nssl_params: {ca_file: /ca.pem}\n",
    );
    assert!(!Deployment::from_yaml_file(&p).unwrap().servers()[0].uses_tls());
    let p = write(
        dir.path(),
        "t2.yml",
        "url: redis://h\nssl: true\nssl_params: {ca_file: /ca.pem, verify_mode: none}\n",
    );
    let d = Deployment::from_yaml_file(&p).unwrap();
    let tls = d.servers()[0].tls.clone().unwrap();
    assert!(tls.insecure);
    assert_eq!(tls.ca_file.unwrap(), Path::new("/ca.pem"));

    let p = write(dir.path(), "d.yml", "path: /var/run/redis.sock\ndb: 5\n");
    assert_eq!(
        Deployment::from_yaml_file(&p).unwrap().to_string(),
        "unix:///var/run/redis.sock?db=5"
    );

    let p = write(
        dir.path(),
        "s.yml",
        "name: my master\nsentinels: [{host: s1, port: 26380}, 's2:26381']\npassword: pw\ndb: 2\n",
    );
    let d = Deployment::from_yaml_file(&p).unwrap();
    assert_eq!(
        d.to_string(),
        "redis+sentinel://:***@s1:26380,s2:26381/my%20master/2"
    );

    let p = write(dir.path(), "e.yml", "nodes: [redis://n1:7000]\n");
    assert_eq!(Deployment::from_yaml_file(&p).unwrap().kind(), "cluster");

    // resque.yml's shape: keyed by environment.
    let p = write(
        dir.path(),
        "resque.yml",
        "production:\n  url: redis://old.internal:6379\n  password: pw\ndevelopment:\n  url: redis://localhost\n",
    );
    let d = Deployment::from_yaml_file_env(&p, "production").unwrap();
    assert_eq!(d.to_string(), "redis://:***@old.internal:6379");
    let err = Deployment::from_yaml_file_env(&p, "staging").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "`staging` in `{}`: no such section in the file",
            p.display()
        )
    );
    let err = Deployment::from_yaml_file(&p).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "`(top level)` in `{}`: none of `url`, `nodes` (or `cluster`), `host`, `path` is given \
             (the file looks keyed by environment: name the environment)",
            p.display()
        )
    );
}

/// (file text, exact error with `{path}` standing for the file)
const BAD_YAML: &[(&str, &str)] = &[
    (
        "url: redis://h:6379\n  password: [unclosed\n",
        "invalid YAML in `{path}`: mapping values are not allowed in this context at line 2 column 11",
    ),
    ("", "`(top level)` in `{path}`: the file is empty"),
    ("- redis://h\n", "`(top level)` in `{path}`: expected a URL or a map, found a list"),
    ("username: app\n", "`(top level)` in `{path}`: none of `url`, `nodes` (or `cluster`), `host`, `path` is given"),
    ("url: redis://h\nnodes: [h:1]\n", "`(top level)` in `{path}`: give one of `url`, `nodes` (or `cluster`), `host`, `path`"),
    ("url: [redis://h]\n", "`url` in `{path}`, line 1: expected a string, found a list"),
    ("url: redis://h\npassword: {x: 1}\n", "`password` in `{path}`, line 2: expected a string, found a map"),
    ("url: redis://h\ndb: -1\n", "`db` in `{path}`, line 2: invalid database `-1`: expected a number from 0 to 4294967295"),
    ("url: redis://h\ndb: [1]\n", "`db` in `{path}`, line 2: expected a database number, found a list"),
    ("nodes: [{host: h, port: 70000}]\n", "`nodes[0].port` in `{path}`, line 1: invalid port `70000`: expected a number from 1 to 65535"),
    (
        "nodes: [h1:7000, h2:7001]\ndb: 1\n",
        "`(top level)` in `{path}`: a cluster has only database 0, but database 1 is selected",
    ),
    ("nodes: [{port: 7000}]\n", "`nodes[0]` in `{path}`, line 1: missing `host`"),
    ("nodes: []\n", "`nodes` in `{path}`, line 1: empty list"),
    ("nodes: redis://h:1\n", "`nodes` in `{path}`, line 1: expected a list, found a string"),
    ("nodes: [true]\n", "`nodes[0]` in `{path}`, line 1: expected a URL, host:port or a {host, port} map, found a boolean"),
    ("url: 'redis://:canary-7f3a9@h:0'\n", "`url` in `{path}`, line 1: invalid port `0` in `redis://:***@h:0`: expected a number from 1 to 65535"),
    ("nodes: ['redis://:canary-7f3a9@h:x']\n", "`nodes[0]` in `{path}`, line 1: invalid port `x` in `redis://:***@h:x`: expected a number from 1 to 65535"),
    ("url: redis://h\nssl: maybe\n", "`ssl` in `{path}`, line 2: expected true or false, found a string"),
    ("url: rediss://h\nssl_params: {cert_file: /c.pem}\n", "`ssl_params` in `{path}`, line 2: `cert_file` and `key_file` go together: give both or neither"),
    ("url: redis://h\nconnect_timeout: soon\n", "`connect_timeout` in `{path}`, line 2: expected a positive number of seconds, found a string"),
    ("url: unix:///tmp/s\nsentinels: [{host: s1}]\n", "`(top level)` in `{path}`: `sentinels` needs a master `name` or a redis:// `url`"),
    ("1: redis://h\n", "`(top level)` in `{path}`: keys must be strings, found a number"),
];

#[test]
fn bad_yaml_files_give_exact_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (i, (text, expected)) in BAD_YAML.iter().enumerate() {
        let path = write(dir.path(), &format!("bad{i}.yml"), text);
        let expected = expected.replace("{path}", &path.display().to_string());
        match Deployment::from_yaml_file(&path) {
            Ok(d) => failures.push(format!("{text:?}: parsed as {d}")),
            Err(e) if e.to_string() != expected => {
                failures.push(format!("{text:?}:\n  expected {expected}\n  got      {e}"))
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn yaml_errors_carry_line_and_column_and_name_the_instance() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "redis.yml",
        "production:\n  cache: redis://h\n   bad: [\n",
    );
    let err = Instances::load_dir(dir.path(), "production").unwrap_err();
    let ConfigError::Yaml {
        path, line, column, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        (path.as_path(), *line, *column),
        (p.as_path(), Some(3), Some(7))
    );

    write(
        dir.path(),
        "redis.yml",
        "production:\n  cache:\n    url: redis://h:99999\n",
    );
    let err = Instances::load_dir(dir.path(), "production").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "`production.cache.url` in `{}`, line 3: invalid port `99999` in `redis://h:99999`: expected a number from 1 to 65535",
            p.display()
        )
    );
    write(dir.path(), "redis.yml", "production: [cache]\n");
    let err = Instances::load_dir(dir.path(), "production").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "`production` in `{}`, line 1: expected a map, found a list",
            p.display()
        )
    );
    let missing = dir.path().join("nope.yml");
    let err = Deployment::from_yaml_file(&missing).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("cannot read `{}`: ", missing.display())),
        "{err}"
    );
    // An environment absent from the file configures nothing (as in GitLab).
    write(
        dir.path(),
        "redis.yml",
        "development:\n  cache: redis://dev\n",
    );
    let i = Instances::load_dir(dir.path(), "production").unwrap();
    assert!(i.names().is_empty());
    assert!(matches!(
        i.resolve("cache"),
        Err(ConfigError::UnknownInstance { .. })
    ));
}

// ---- real servers ----

#[test]
fn connection_info_authenticates_and_selects_the_db_on_a_real_server() {
    let password = format!("{CANARY}-real");
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("redis.sock");
    let server = Standalone::builder()
        .acl_user("app", &password)
        .config("unixsocket", &socket.display().to_string())
        .config("unixsocketperm", "700")
        .start()
        .unwrap();
    let url = format!("redis://app:{password}@127.0.0.1:{}/3", server.port());
    let config = ServerConfig::parse(&url).unwrap();
    assert!(!config.to_string().contains(CANARY));
    let client = redis::Client::open(config.to_connection_info().unwrap()).unwrap();
    let mut con = client.get_connection().unwrap();
    let info: String = redis::cmd("CLIENT").arg("INFO").query(&mut con).unwrap();
    assert!(info.contains(" db=3 "), "{info}");
    assert!(info.contains(" user=app "), "{info}");

    // The same server through its unix socket, from a URL with the password percent-encoded.
    let encoded = password.replace('-', "%2D");
    let unix = format!("unix://app:{encoded}@{}?db=4", socket.display());
    let config = ServerConfig::parse(&unix).unwrap();
    let client = redis::Client::open(config.to_connection_info().unwrap()).unwrap();
    let mut con = client.get_connection().unwrap();
    let info: String = redis::cmd("CLIENT").arg("INFO").query(&mut con).unwrap();
    assert!(info.contains(" db=4 "), "{info}");

    // A wrong password is refused by the server; the refusal does not echo either password.
    let wrong = ServerConfig::parse(&format!(
        "redis://app:{CANARY}-wrong@127.0.0.1:{}",
        server.port()
    ))
    .unwrap();
    let client = redis::Client::open(wrong.to_connection_info().unwrap()).unwrap();
    let err = client
        .get_connection()
        .err()
        .expect("wrong password refused");
    assert!(!format!("{err} {err:?}").contains(CANARY), "{err:?}");
}

// ---- the canary ----

#[test]
fn canary_password_appears_in_no_debug_display_error_or_log_line() {
    capture_logs();
    let mut seen: Vec<String> = Vec::new();
    let mut record = |what: String| seen.push(what);

    // URLs that parse.
    for url in [
        format!("redis://app:{CANARY}@h:6379/1"),
        format!("rediss://:{CANARY}@h?ca_file=/ca.pem"),
        format!("unix://:{CANARY}@/tmp/s.sock"),
        format!("redis://:{CANARY}@h1:7000,h2:7001"),
        format!("redis+sentinel://:{CANARY}@s1,s2/mymaster?sentinel_password={CANARY}"),
        format!("redis://h1:7000,redis://:{CANARY}@h2:7001"),
    ] {
        let d = Deployment::parse(&url).unwrap();
        assert!(
            d.servers()
                .iter()
                .all(|s| s.password.as_ref().is_some_and(|p| p.expose() == CANARY))
                || matches!(d, Deployment::Cluster { .. }),
            "{url}"
        );
        record(format!("{d} {d:?} {d:#?}"));
        for s in d.servers() {
            record(format!("{s} {s:?} {:?} {}", s.password, s.endpoint));
            // TLS URLs convert too (rustls); a failure (e.g. an unreadable CA file) is an error
            // whose text is recorded all the same.
            match s.to_connection_info() {
                Ok(info) => record(format!("{info:?}")),
                Err(e) => record(format!("{e} {e:?}")),
            }
        }
        if let Deployment::Sentinel(s) = &d {
            assert_eq!(s.sentinel_password.as_ref().unwrap().expose(), CANARY);
            record(format!("{s} {s:?}"));
        }
    }
    // URLs that fail, in every way a password can be near the failure.
    for url in [
        format!("redis://:{CANARY}@h:0"),
        format!("redis://:{CANARY}@:6379"),
        format!("redis://app:{CANARY}@h/x"),
        format!("redis://app:{CANARY}%zz@h"),
        format!("redis://app:{CANARY}/x@h"),
        format!("redis://app:{CANARY}?x@h"),
        format!("redis://app:{CANARY}#x@h"),
        format!("redis://app:{CANARY}@@h"),
        format!("http://app:{CANARY}@h"),
        format!("app:{CANARY}@h:1"),
        format!("redis://app:{CANARY}@h?insecure=true"),
        format!("redis://h?password={CANARY}"),
        format!("redis://h?auth_token={CANARY}&db=x"),
        format!("redis+sentinel://s1/m?sentinel_password={CANARY}&bogus=1"),
        format!("unix://app:{CANARY}@host/tmp/s"),
        format!("redis://app:{CANARY}@[::1"),
        format!("redis://app:{CANARY}@h1,redis://h2:0"),
    ] {
        for err in [
            Deployment::parse(&url).err(),
            ServerConfig::parse(&url).err(),
            Deployment::from_urls(&[url.as_str(), "redis://x:1"]).err(),
        ]
        .into_iter()
        .flatten()
        {
            record(format!("{err} {err:?} {err:#?}"));
        }
    }
    // YAML: good and bad files, passwords in every place, logs from loading and resolving.
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "redis.yml",
        &format!(
            "production:
  cache: {{url: 'redis://:{CANARY}@c:6379', password: {CANARY}, secret_file: {CANARY}}}
  queues:
    url: redis://master/0
    password: {CANARY}
    sentinels: [{{host: s1}}]
    sentinel_password: {CANARY}
    config_command: /bin/echo {CANARY}
  shared_state:
    nodes: ['redis://:{CANARY}@n1:7000', {{host: n2, port: 7000}}]
    ssl_params: {{ca_file: /ca.pem, key_password: {CANARY}}}
"
        ),
    );
    write(
        dir.path(),
        "resque.yml",
        &format!("production: redis://:{CANARY}@resque:6379\n"),
    );
    let instances = Instances::load_dir(dir.path(), "production")
        .unwrap()
        .with_gitlab_fallbacks();
    record(format!("{instances:?}"));
    for name in [
        "cache",
        "queues",
        "shared_state",
        "sessions",
        "rate_limiting",
        "other",
    ] {
        let d = instances.resolve(name).unwrap();
        assert!(
            d.servers()[0]
                .password
                .as_ref()
                .is_some_and(|p| p.expose() == CANARY),
            "{name}"
        );
        record(format!("{d} {d:?}"));
    }
    for text in [
        format!("url: redis://h\npassword: [{CANARY}\n"),
        format!("url: redis://h\npassword: {{a: {CANARY}}}\n"),
        format!("password: {CANARY}\n"),
        format!("url: 'redis://:{CANARY}@h:99999'\n"),
        format!("nodes: ['redis://:{CANARY}@h:x']\n"),
        format!("url: redis://h\nsentinel_password: [{CANARY}]\n"),
        format!("{CANARY}: [\n"),
        format!("url: redis://h\npassword: \"{CANARY}\\q\"\n"),
        format!("url: redis://h\nsentinels: {CANARY}\n"),
    ] {
        let p = write(dir.path(), "bad.yml", &text);
        let err = Deployment::from_yaml_file(&p).unwrap_err();
        record(format!("{err} {err:?}"));
    }
    let secret = Secret::new(CANARY);
    record(format!("{secret} {secret:?} {:?}", Some(&secret)));

    let logs = log_lines();
    assert!(
        logs.iter().any(|l| l.contains("resolved from")),
        "resolving logs the deployment: {logs:#?}"
    );
    assert!(
        logs.iter()
            .any(|l| l.contains("ignoring unsupported key `production.cache.secret_file`")),
        "unsupported keys are logged: {logs:#?}"
    );
    assert!(seen.len() > 40);
    for line in seen.iter().chain(logs.iter()) {
        assert!(!line.contains(CANARY), "the canary leaked: {line}");
        assert!(!line.contains("7f3a9"), "part of the canary leaked: {line}");
    }
}

// ---- properties: no input panics, no password leaks ----

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_input_gives_a_deployment_or_an_error(s in "\\PC{0,80}") {
        let _ = Deployment::parse(&s);
        let _ = ServerConfig::parse(&s);
    }

    #[test]
    fn a_password_never_shows_whatever_surrounds_it(
        scheme in prop::sample::select(vec!["redis", "rediss", "unix", "redis+sentinel", "http", "", "REDIS"]),
        user in "[a-z]{0,3}",
        suffix in "[a-z0-9/?#@:%,&=+\\[\\] ]{0,14}",
        host in "[a-z0-9:.,\\[\\]]{0,12}",
        tail in "[a-z0-9/?#@=&:%,]{0,20}",
    ) {
        let url = format!("{scheme}://{user}:ZQXCANARY{suffix}@{host}{tail}");
        let shown = match Deployment::parse(&url) {
            Ok(d) => format!("{d} {d:?}"),
            Err(e) => format!("{e} {e:?}"),
        };
        prop_assert!(!shown.contains("ZQXCANARY"), "{url} -> {shown}");
        if let Err(e) = ServerConfig::parse(&url) {
            prop_assert!(!e.to_string().contains("ZQXCANARY"), "{url} -> {e}");
        }
    }
}

proptest! {
    // Each case writes a file: fewer cases than the in-memory URL properties.
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_yaml_gives_a_deployment_or_an_error(
        text in "((production|nodes|url|db|port|host|password|sentinels|cluster|-|:|\\[|\\]|\\{|\\}|,| |\n|  |redis://h:1|h:70000|x|1)){0,40}",
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("any.yml");
        std::fs::write(&path, &text).unwrap();
        let _ = Deployment::from_yaml_file(&path);
        let _ = Deployment::from_yaml_file_env(&path, "production");
        let mut instances = Instances::new();
        let _ = instances.add_shared_file(&path, Some("production"));
        let _ = instances.add_shared_file(&path, None);
    }

    #[test]
    fn a_yaml_password_never_shows_whatever_surrounds_it(
        url in prop::sample::select(vec!["redis://h:1", "redis://h:0", "redis+sentinel://s/m", "unix:///s", "h1:1,h2:2/3", "[", "{", "nodes", "''"]),
        db in prop::sample::select(vec!["0", "-1", "x", "[1]", "{", "\"", "2"]),
        extra in "[a-z:\\[\\]{} ,\n-]{0,24}",
    ) {
        let text = format!(
            "url: {url}\npassword: ZQXCANARY\ndb: {db}\nsentinel_password: ZQXCANARY\n{extra}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("any.yml");
        std::fs::write(&path, &text).unwrap();
        let shown = match Deployment::from_yaml_file(&path) {
            Ok(d) => format!("{d} {d:?}"),
            Err(e) => format!("{e} {e:?}"),
        };
        prop_assert!(!shown.contains("ZQXCANARY"), "{text:?} -> {shown}");
    }
}
