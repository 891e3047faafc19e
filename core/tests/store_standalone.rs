//! `Store` over one real redis-server: the API, auth errors, unknown hosts, and fork.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::time::{Duration, Instant};

use slotshift::command::Cmd;
use slotshift::config::Deployment;
use slotshift::keyspace::ScanOptions;
use slotshift::reply::Reply;
use slotshift::store::{ConnectionErrorKind, Store, StoreKind, StoreOptions};
use slotshift::testing::Standalone;
use slotshift::Error;

fn cmd(args: &[&str]) -> Cmd {
    Cmd::from_args(args)
}

#[test]
fn call_pipeline_transaction_scan_publish() {
    let server = Standalone::start().unwrap();
    let store = Store::open(&server.url()).unwrap();
    assert_eq!(store.kind(), StoreKind::Standalone);

    assert_eq!(
        store.call(&cmd(&["SET", "a", "1"])).unwrap(),
        Reply::Status("OK".into())
    );
    assert_eq!(
        store.call(&cmd(&["GET", "a"])).unwrap(),
        Reply::Bulk(b"1".to_vec())
    );
    assert_eq!(store.call(&cmd(&["GET", "missing"])).unwrap(), Reply::Nil);

    // Per-command results, in order, an error in the middle.
    let replies = store
        .pipeline(&[
            cmd(&["INCR", "n"]),
            cmd(&["LPUSH", "a", "x"]),
            cmd(&["INCR", "n"]),
        ])
        .unwrap();
    assert_eq!(replies[0].as_ref().unwrap(), &Reply::Int(1));
    match &replies[1] {
        Err(Error::Server(e)) => assert_eq!(e.code(), "WRONGTYPE"),
        other => panic!("expected WRONGTYPE, got {other:?}"),
    }
    assert_eq!(replies[2].as_ref().unwrap(), &Reply::Int(2));

    let tx = store
        .transaction(&[cmd(&["INCR", "t"]), cmd(&["INCR", "t"]), cmd(&["GET", "t"])])
        .unwrap()
        .unwrap();
    assert_eq!(
        tx,
        vec![Reply::Int(1), Reply::Int(2), Reply::Bulk(b"2".to_vec())]
    );

    // A command refused when queued: EXEC's EXECABORT, which names that command (the
    // second, index 1) and its own error; nothing ran.
    match store.transaction(&[
        cmd(&["SET", "tx:a", "1"]),
        cmd(&["ZREM", "tx:b"]),
        cmd(&["SET", "tx:b", "2"]),
    ]) {
        Err(Error::Server(e)) => {
            assert!(e.is("EXECABORT"), "{e}");
            let (index, cause) = e.refused_at_queue().expect("the refused command");
            assert_eq!(index, 1);
            assert_eq!(cause.code(), "ERR");
            assert!(cause.detail().contains("'zrem'"), "{cause}");
        }
        other => panic!("expected EXECABORT, got {other:?}"),
    }
    assert_eq!(
        store.call(&cmd(&["EXISTS", "tx:a"])).unwrap(),
        Reply::Int(0)
    );

    for i in 0..250 {
        store
            .call(&cmd(&["SET", &format!("scan:{i}"), "v"]))
            .unwrap();
    }
    let mut keys = Vec::new();
    for batch in store.scan(ScanOptions::matching("scan:*")).unwrap() {
        keys.extend(batch.unwrap());
    }
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 250);

    assert_eq!(store.publish("chan", "hello").unwrap(), 0);
    assert_eq!(store.masters().unwrap().len(), 1);
}

#[test]
fn server_id_tells_servers_and_databases_apart() {
    let a = Standalone::start().unwrap();
    let b = Standalone::start().unwrap();
    let a0 = Store::open(&a.url()).unwrap().server_id().unwrap();
    let a0_again = Store::open(&a.url()).unwrap().server_id().unwrap();
    let a1 = Store::open(&format!("{}/1", a.url()))
        .unwrap()
        .server_id()
        .unwrap();
    let b0 = Store::open(&b.url()).unwrap().server_id().unwrap();
    assert_eq!(a0, a0_again);
    assert_eq!(a0.run_ids, a1.run_ids);
    assert_ne!(a0, a1);
    assert_ne!(a0.run_ids, b0.run_ids);
}

#[test]
fn node_for_and_database_name_the_server_and_the_urls_database() {
    let server = Standalone::start().unwrap();
    let store = Store::open(&format!("{}/3", server.url())).unwrap();
    assert_eq!(store.database(), 3);
    for args in [&["GET", "k"][..], &["PING"], &["DBSIZE"]] {
        let node = store
            .node_for(&cmd(args))
            .unwrap()
            .expect("a single server");
        assert_eq!(node.port, server.port(), "{args:?}");
    }
    assert_eq!(Store::open(&server.url()).unwrap().database(), 0);
}

#[test]
fn wrong_password_is_a_clear_auth_error_without_the_password() {
    let server = Standalone::builder()
        .password("s3cret-canary")
        .start()
        .unwrap();
    let url = format!("redis://:wrong-canary@127.0.0.1:{}", server.port());
    let t = Instant::now();
    let err = Store::open(&url).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(5));
    match &err {
        Error::Connection(c) => assert_eq!(c.kind, ConnectionErrorKind::Auth, "{err}"),
        other => panic!("unexpected {other}"),
    }
    let text = format!("{err} {err:?}");
    assert!(!text.contains("canary"), "{text}");
    // The right password works.
    let ok = Store::open(&format!(
        "redis://:s3cret-canary@127.0.0.1:{}",
        server.port()
    ))
    .unwrap();
    assert_eq!(
        ok.call(&cmd(&["PING"])).unwrap(),
        Reply::Status("PONG".into())
    );
}

#[test]
fn acl_user_authenticates() {
    let server = Standalone::builder()
        .acl_user("app", "app-pw")
        .start()
        .unwrap();
    let store = Store::open(&format!("redis://app:app-pw@127.0.0.1:{}", server.port())).unwrap();
    assert_eq!(
        store.call(&cmd(&["ACL", "WHOAMI"])).unwrap(),
        Reply::Bulk(b"app".to_vec())
    );
    let err = Store::open(&format!("redis://app:nope@127.0.0.1:{}", server.port())).unwrap_err();
    assert!(
        matches!(&err, Error::Connection(c) if c.kind == ConnectionErrorKind::Auth),
        "{err}"
    );
}

#[test]
fn unknown_host_fails_within_the_connect_timeout() {
    let mut opts = StoreOptions::default();
    opts.connect_timeout = Duration::from_secs(1);
    let t = Instant::now();
    let err = Store::connect(
        &Deployment::parse("redis://no-such-host.invalid:6379").unwrap(),
        opts,
    )
    .unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    match &err {
        Error::Connection(c) => {
            assert!(c.node.contains("no-such-host.invalid"), "{err}");
            assert!(matches!(
                c.kind,
                ConnectionErrorKind::Connect | ConnectionErrorKind::Timeout
            ));
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn a_paused_server_ends_in_a_timeout_within_the_deadline() {
    let server = Standalone::start().unwrap();
    let mut opts = StoreOptions::default();
    opts.response_timeout = Duration::from_millis(300);
    // Opening a new connection to a stopped server waits for its handshake: the connect
    // timeout is the caller's too.
    opts.connect_timeout = Duration::from_millis(300);
    opts.retry_deadline = Duration::from_secs(1);
    let store = Store::connect(&Deployment::parse(&server.url()).unwrap(), opts).unwrap();
    store.call(&cmd(&["SET", "k", "v"])).unwrap();
    server.pause().unwrap();
    let t = Instant::now();
    let write = store.call(&cmd(&["SET", "k", "w"]));
    let read = store.call(&cmd(&["GET", "k"]));
    let took = t.elapsed();
    server.resume().unwrap();
    // The write may have reached the server: not re-sent, reported as outcome unknown.
    match write.unwrap_err() {
        Error::Connection(c) => {
            assert!(c.outcome_unknown && c.kind == ConnectionErrorKind::Timeout)
        }
        other => panic!("unexpected {other}"),
    }
    // The read is not retried past the caller's 300 ms: a timeout error of its own.
    match read.unwrap_err() {
        Error::Connection(c) => assert_eq!(c.kind, ConnectionErrorKind::Timeout, "{c}"),
        other => panic!("unexpected {other}"),
    }
    assert!(took < Duration::from_secs(4), "{took:?}");
    // And the store recovers once the server does.
    assert_eq!(
        store
            .call(&cmd(&["GET", "k"]))
            .unwrap()
            .as_bytes()
            .map(<[u8]>::len),
        Some(1)
    );
}

#[test]
fn a_forked_child_opens_its_own_connections() {
    let server = Standalone::start().unwrap();
    let store = Store::open(&server.url()).unwrap();
    store.call(&cmd(&["SET", "parent", "1"])).unwrap();
    let before: i64 = client_count(&store);

    // SAFETY: the child only uses the store, writes a byte to the pipe and exits.
    let mut fds = [0i32; 2];
    assert_eq!(unsafe { libc_pipe(fds.as_mut_ptr()) }, 0);
    let pid = unsafe { libc_fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let ok = store.call(&cmd(&["SET", "child", "2"])).is_ok()
            && store
                .call(&cmd(&["GET", "parent"]))
                .map(|r| r == Reply::Bulk(b"1".to_vec()))
                .unwrap_or(false);
        let byte = [if ok { b'y' } else { b'n' }];
        unsafe {
            libc_write(fds[1], byte.as_ptr(), 1);
            libc_exit(0);
        }
    }
    let mut byte = [0u8; 1];
    assert_eq!(unsafe { libc_read(fds[0], byte.as_mut_ptr(), 1) }, 1);
    assert_eq!(byte[0], b'y', "the child could not use the store");
    // The parent's connection still works and was not disturbed by the child.
    assert_eq!(
        store.call(&cmd(&["GET", "child"])).unwrap(),
        Reply::Bulk(b"2".to_vec())
    );
    assert!(client_count(&store) >= before);
}

#[test]
fn a_blocking_pop_gets_its_own_connection_and_outlives_the_reply_timeout() {
    let server = Standalone::start().unwrap();
    let mut opts = StoreOptions::default();
    opts.response_timeout = Duration::from_millis(300);
    let store = Store::connect(&Deployment::parse(&server.url()).unwrap(), opts).unwrap();
    store.call(&cmd(&["SET", "k", "v"])).unwrap();
    let popper = {
        let store = store.clone();
        std::thread::spawn(move || store.call(&cmd(&["BLPOP", "queue", "20"])))
    };
    // Wait until the BLPOP is blocked on the server.
    while client_blocked(&store) == 0 {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Longer than the reply timeout: the BLPOP must still be waiting, not timed out.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(client_blocked(&store), 1);
    // The shared connection is not stuck behind the blocked command...
    assert_eq!(
        store.call(&cmd(&["GET", "k"])).unwrap(),
        Reply::Bulk(b"v".to_vec())
    );
    // ...so the push that wakes it goes through.
    store.call(&cmd(&["RPUSH", "queue", "job-1"])).unwrap();
    assert_eq!(
        popper.join().unwrap().unwrap(),
        Reply::Array(vec![
            Reply::Bulk(b"queue".to_vec()),
            Reply::Bulk(b"job-1".to_vec())
        ])
    );
}

fn client_blocked(store: &Store) -> i64 {
    let info = store.call(&cmd(&["INFO", "clients"])).unwrap();
    let text = String::from_utf8_lossy(info.as_bytes().unwrap()).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn client_count(store: &Store) -> i64 {
    let info = store.call(&cmd(&["INFO", "clients"])).unwrap();
    let text = String::from_utf8_lossy(info.as_bytes().unwrap()).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

extern "C" {
    #[link_name = "pipe"]
    fn libc_pipe(fds: *mut i32) -> i32;
    #[link_name = "fork"]
    fn libc_fork() -> i32;
    #[link_name = "write"]
    fn libc_write(fd: i32, buf: *const u8, n: usize) -> isize;
    #[link_name = "read"]
    fn libc_read(fd: i32, buf: *mut u8, n: usize) -> isize;
    #[link_name = "_exit"]
    fn libc_exit(code: i32) -> !;
}

/// Blocking callers beyond `CROWD` (8) requests in flight to one node share the node's
/// multiplexed connection instead of opening one each: 16 threads whose SETs are held by a
/// write pause open at most a few more than 8 connections, and every SET lands.
#[test]
fn crowded_blocking_callers_share_one_connection() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};

    const THREADS: usize = 16;
    let server = Standalone::start().unwrap();
    let mut admin = server.client().get_connection().unwrap();
    let store = Store::open(&server.url()).unwrap();
    let clients = |admin: &mut redis::Connection| -> usize {
        let list: String = redis::cmd("CLIENT").arg("LIST").query(admin).unwrap();
        list.lines().count() - 1 // not the admin connection
    };
    let _: () = redis::cmd("CLIENT")
        .arg(&["PAUSE", "8000", "WRITE"])
        .query(&mut admin)
        .unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(Barrier::new(THREADS + 1));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (store, started, done) = (store.clone(), started.clone(), done.clone());
            std::thread::spawn(move || {
                started.fetch_add(1, Ordering::SeqCst);
                let reply = store.call(&cmd(&["SET", &format!("k{t}"), &format!("v{t}")]));
                done.wait(); // keep this thread's connections open until they are counted
                reply
            })
        })
        .collect();
    while started.load(Ordering::SeqCst) < THREADS {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(500)); // let every SET reach the pause
    let _: () = redis::cmd("CLIENT")
        .arg("UNPAUSE")
        .query(&mut admin)
        .unwrap();
    let (mut opened, mut seen) = (0, 0);
    // Every SET answered means every connection it used is open: count them then.
    while seen < THREADS {
        seen = (0..THREADS)
            .filter(|t| {
                let v: Option<String> = redis::cmd("GET")
                    .arg(format!("k{t}"))
                    .query(&mut admin)
                    .unwrap();
                v == Some(format!("v{t}"))
            })
            .count();
        opened = clients(&mut admin);
        std::thread::sleep(Duration::from_millis(10));
    }
    done.wait();
    for t in threads {
        assert_eq!(t.join().unwrap().unwrap(), Reply::Status("OK".into()));
    }
    assert!(
        opened < THREADS,
        "{opened} connections for {THREADS} blocking callers held at once: each opened its own"
    );
}
