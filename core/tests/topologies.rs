//! Start every embedded topology for real, check it is healthy, drop it, check nothing is left;
//! check that the fault helpers do what they say.

use std::time::Duration;

use slotshift::testing::{EmbeddedError, Standalone};

/// Whether a process with this pid exists (zombies included: /proc lists them too).
fn pid_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

fn ping(client: &redis::Client) -> redis::RedisResult<String> {
    let mut con = client.get_connection_with_timeout(Duration::from_secs(2))?;
    redis::cmd("PING").query(&mut con)
}

#[test]
fn standalone_starts_answers_and_leaves_nothing_behind() {
    let server = Standalone::start().unwrap();
    let pid = server.pid();
    let dir = server.dir().to_path_buf();
    assert!(pid_exists(pid));
    assert_eq!(server.addr(), format!("127.0.0.1:{}", server.port()));
    assert_eq!(server.url(), format!("redis://127.0.0.1:{}", server.port()));
    assert_eq!(ping(&server.client()).unwrap(), "PONG");
    let mut con = server.client().get_connection().unwrap();
    let save: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("save")
        .query(&mut con)
        .unwrap();
    assert_eq!(save, vec!["save".to_string(), String::new()]);
    drop(con);
    drop(server);
    assert!(
        !pid_exists(pid),
        "redis-server pid {pid} survived its Standalone"
    );
    assert!(
        !dir.exists(),
        "temporary directory {} survived",
        dir.display()
    );
}

#[test]
fn standalone_with_password_and_acl_user() {
    let server = Standalone::builder()
        .password("canary-pass word")
        .acl_user("app", "app:secret")
        .debug_command(true)
        .config("maxmemory", "64mb")
        .start()
        .unwrap();
    assert_eq!(
        server.url(),
        format!("redis://app:app%3Asecret@127.0.0.1:{}", server.port())
    );
    let mut con = server.client().get_connection().unwrap();
    let who: String = redis::cmd("ACL").arg("WHOAMI").query(&mut con).unwrap();
    assert_eq!(who, "app");
    let _: () = redis::cmd("DEBUG")
        .arg("SLEEP")
        .arg(0)
        .query(&mut con)
        .unwrap();
    let maxmemory: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory")
        .query(&mut con)
        .unwrap();
    assert_eq!(maxmemory[1], (64 * 1024 * 1024).to_string());

    // Without credentials the default user is refused.
    let anonymous = redis::Client::open(format!("redis://127.0.0.1:{}", server.port())).unwrap();
    let err = ping(&anonymous).unwrap_err();
    assert_eq!(err.code(), Some("NOAUTH"), "{err}");
    // The default user's password works too.
    let default = redis::Client::open(format!(
        "redis://:canary-pass%20word@127.0.0.1:{}",
        server.port()
    ))
    .unwrap();
    assert_eq!(ping(&default).unwrap(), "PONG");
    // The password never shows in Debug output.
    assert!(!format!("{server:?}").contains("canary"));
}

#[test]
fn standalone_kill_pause_resume() {
    let server = Standalone::start().unwrap();
    let client = server.client();

    let mut con = client
        .get_connection_with_timeout(Duration::from_secs(1))
        .unwrap();
    server.pause().unwrap();
    assert!(server.node().is_paused());
    con.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let err = redis::cmd("PING").query::<String>(&mut con).unwrap_err();
    assert!(err.is_timeout(), "a paused server answered: {err}");

    server.resume().unwrap();
    assert_eq!(ping(&client).unwrap(), "PONG");

    let pid = server.pid();
    server.kill().unwrap();
    assert!(!server.node().is_alive());
    assert!(!pid_exists(pid));
    assert!(ping(&client).is_err());
    // Killing twice is harmless.
    server.kill().unwrap();
}

#[test]
fn standalone_parallel_starts_get_distinct_ports() {
    let servers: Vec<Standalone> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(Standalone::start)).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect()
    });
    let mut ports: Vec<u16> = servers.iter().map(Standalone::port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 4);
    for server in &servers {
        assert_eq!(ping(&server.client()).unwrap(), "PONG");
    }
}

#[test]
fn servers_outlive_the_thread_that_started_them() {
    // PDEATHSIG fires when the forking thread exits: a server started from a short-lived thread
    // must still be running after that thread ended.
    let server = std::thread::spawn(|| Standalone::start().unwrap())
        .join()
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(ping(&server.client()).unwrap(), "PONG");
}

#[test]
fn missing_server_error_says_how_to_install() {
    let message = EmbeddedError::NotInstalled.to_string();
    assert!(
        message.contains("apt-get install redis-server redis-tools"),
        "{message}"
    );
}
