//! What a real server never sends, from a scripted fake node on loopback: each case must end
//! in a clear error — no panic, no hang, no allocation sized by the peer's claims.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::time::{Duration, Instant};

use slotshift::cluster::RoutingError;
use slotshift::command::Cmd;
use slotshift::config::Deployment;
use slotshift::store::{ConnectionErrorKind, Store, StoreOptions};
use slotshift::testing::fake::{shards, shards_all_slots, Action, FakeNode};
use slotshift::Error;

fn name(args: &[Vec<u8>]) -> String {
    String::from_utf8_lossy(&args[0]).to_ascii_uppercase()
}

fn opts() -> StoreOptions {
    let mut o = StoreOptions::default();
    o.connect_timeout = Duration::from_millis(500);
    o.response_timeout = Duration::from_millis(500);
    o.retry_deadline = Duration::from_secs(2);
    o
}

fn open(node: &FakeNode) -> slotshift::Result<Store> {
    Store::connect(&Deployment::parse(&node.url()).unwrap(), opts())
}

/// A fake cluster node that owns every slot and answers GET with `reply(port)`.
fn cluster_node(reply: impl Fn(u16) -> Action + Send + Sync + 'static) -> FakeNode {
    FakeNode::start(move |port, args| match name(args).as_str() {
        "CLUSTER" => Some(Action::Reply(shards_all_slots(port))),
        "GET" => Some(reply(port)),
        _ => None,
    })
    .unwrap()
}

fn get(store: &Store) -> (slotshift::Result<slotshift::reply::Reply>, Duration) {
    let t = Instant::now();
    let r = store.call(&Cmd::from_args(["GET", "k"]));
    (r, t.elapsed())
}

#[test]
fn malformed_resp_is_a_protocol_error() {
    let node = cluster_node(|_| Action::raw("!not resp at all\r\n"));
    let store = open(&node).unwrap();
    let (r, took) = get(&store);
    let err = r.unwrap_err();
    assert!(
        matches!(&err, Error::Connection(c) if c.node.ends_with(&node.port().to_string())),
        "{err}"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

/// A command the key table does not know goes to any master; when that node answers MOVED (a
/// newer server's keyed command), the redirect is followed rather than retried on the same
/// node until the redirect budget runs out.
#[test]
fn a_keyless_command_follows_its_moved() {
    use std::sync::atomic::{AtomicU16, Ordering};
    use std::sync::Arc;
    let b_port = Arc::new(AtomicU16::new(0));
    let a_port = Arc::new(AtomicU16::new(0));
    let topology = {
        let (a, b) = (a_port.clone(), b_port.clone());
        move || {
            let (a, b) = (a.load(Ordering::SeqCst), b.load(Ordering::SeqCst));
            Action::Reply(shards(&[(0, 8191, a), (8192, 16383, b)]))
        }
    };
    let a = {
        let (topology, b) = (topology.clone(), b_port.clone());
        FakeNode::start(move |_, args| match name(args).as_str() {
            "CLUSTER" => Some(topology()),
            "NEWCMD" => Some(Action::Reply(
                format!("-MOVED 9000 127.0.0.1:{}\r\n", b.load(Ordering::SeqCst)).into_bytes(),
            )),
            _ => None,
        })
        .unwrap()
    };
    a_port.store(a.port(), Ordering::SeqCst);
    let b = FakeNode::start(move |_, args| match name(args).as_str() {
        "CLUSTER" => Some(topology()),
        "NEWCMD" => Some(Action::raw("+from-b\r\n")),
        _ => None,
    })
    .unwrap();
    b_port.store(b.port(), Ordering::SeqCst);
    let store = open(&a).unwrap();
    let reply = store.call(&Cmd::from_args(["NEWCMD", "k"])).unwrap();
    assert_eq!(reply, slotshift::reply::Reply::Status("from-b".into()));
    assert_eq!(store.stats().moved, 1);
}

#[test]
fn moved_to_itself_ends_in_too_many_redirects() {
    let node =
        cluster_node(|port| Action::Reply(format!("-MOVED 7 127.0.0.1:{port}\r\n").into_bytes()));
    let store = open(&node).unwrap();
    let (r, took) = get(&store);
    match r.unwrap_err() {
        Error::Routing(RoutingError::TooManyRedirects {
            redirects, path, ..
        }) => {
            assert_eq!(redirects, store.options().max_redirects);
            assert!(path[0].contains(&node.port().to_string()), "{path:?}");
        }
        other => panic!("unexpected {other}"),
    }
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(store.stats().moved, store.options().max_redirects as u64);
}

#[test]
fn moved_to_a_node_outside_the_topology_is_refused() {
    let node = cluster_node(|_| Action::raw("-MOVED 7 10.255.255.1:7000\r\n"));
    let store = open(&node).unwrap();
    let (r, _) = get(&store);
    match r.unwrap_err() {
        Error::Routing(RoutingError::RedirectToUnknownNode { to, .. }) => {
            assert_eq!(to, "10.255.255.1:7000")
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn malformed_redirect_is_named() {
    let node = cluster_node(|_| Action::raw("-MOVED seven nowhere\r\n"));
    let store = open(&node).unwrap();
    let err = get(&store).0.unwrap_err();
    assert!(
        matches!(err, Error::Routing(RoutingError::MalformedRedirect { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("MOVED seven nowhere"), "{err}");
}

#[test]
fn huge_bulk_length_does_not_allocate_or_hang() {
    // Claims 4 GiB (then 2^63-1) and sends 5 bytes, then stalls: the reply timeout fires.
    for header in [
        "$4294967296\r\nhello",
        "$9223372036854775807\r\nhello",
        "*4294967295\r\n:1\r\n",
    ] {
        let node = cluster_node(move |_| Action::raw(header));
        let store = open(&node).unwrap();
        let (r, took) = get(&store);
        // A timeout (retried, as GET is a read, until the deadline) — never a 4 GiB buffer.
        let err = r.unwrap_err();
        assert!(
            matches!(
                err,
                Error::Connection(_) | Error::Routing(RoutingError::DeadlineExceeded { .. })
            ),
            "{header:?}: {err}"
        );
        assert!(err.to_string().contains("timed out"), "{header:?}: {err}");
        assert!(took < Duration::from_secs(5), "{header:?} took {took:?}");
    }
}

#[test]
fn bad_lengths_do_not_panic() {
    // Only -1 is RESP's null; any other negative length is a broken peer, named as such.
    for (header, says) in [
        ("$-2\r\n", "negative length: -2"),
        ("*-5\r\n", "negative length: -5"),
        ("$abc\r\n", "not an integer: \"abc\""),
    ] {
        let node = cluster_node(move |_| Action::raw(header));
        let store = open(&node).unwrap();
        let err = get(&store).0.unwrap_err();
        assert!(
            matches!(&err, Error::Connection(c) if c.kind == ConnectionErrorKind::Protocol),
            "{header:?}: {err}"
        );
        assert!(err.to_string().contains(says), "{header:?}: {err}");
    }
}

#[test]
fn a_node_that_never_answers_times_out() {
    let node = cluster_node(|_| Action::Hang);
    let store = open(&node).unwrap();
    let (r, took) = get(&store);
    match r.unwrap_err() {
        // GET is a read, so it is retried until the deadline; the last error is the timeout.
        Error::Routing(RoutingError::DeadlineExceeded { last, .. }) => {
            assert!(last.contains("timed out"), "{last}")
        }
        Error::Connection(c) => assert_eq!(c.kind, ConnectionErrorKind::Timeout),
        other => panic!("unexpected {other}"),
    }
    assert!(took < Duration::from_secs(6), "took {took:?}");
}

#[test]
fn malformed_topology_fails_the_open() {
    let node = FakeNode::start(|_, args| match name(args).as_str() {
        // A range that starts after it ends.
        "CLUSTER" => Some(Action::raw(
            "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:10\r\n:5\r\n$5\r\nnodes\r\n*0\r\n",
        )),
        _ => None,
    })
    .unwrap();
    let err = open(&node).unwrap_err();
    assert!(
        matches!(err, Error::Routing(RoutingError::MalformedTopology { .. })),
        "{err}"
    );
}

#[test]
fn a_write_lost_mid_flight_is_reported_as_outcome_unknown() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let incrs = Arc::new(AtomicUsize::new(0));
    let seen = incrs.clone();
    let node = FakeNode::start(move |port, args| match name(args).as_str() {
        "CLUSTER" => Some(Action::Reply(shards_all_slots(port))),
        "INCR" => {
            seen.fetch_add(1, Ordering::SeqCst);
            Some(Action::Close)
        }
        _ => None,
    })
    .unwrap();
    let store = open(&node).unwrap();
    let err = store.call(&Cmd::from_args(["INCR", "n"])).unwrap_err();
    match &err {
        Error::Connection(c) => assert!(c.outcome_unknown, "{err}"),
        other => panic!("unexpected {other}"),
    }
    // INCR is not idempotent: it was sent exactly once.
    assert_eq!(incrs.load(Ordering::SeqCst), 1);
}

#[test]
fn an_empty_error_reply_still_says_what_happened() {
    let node = cluster_node(|_| Action::raw("-\r\n"));
    let store = open(&node).unwrap();
    let (r, took) = get(&store);
    let text = r.unwrap_err().to_string();
    assert!(text.contains("empty error reply"), "{text:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    // The connection is still in step: the next command gets its own (empty) error.
    let text = get(&store).0.unwrap_err().to_string();
    assert!(text.contains("empty error reply"), "{text:?}");
}

/// A reply nested 100,000 arrays deep (a few hundred KiB): refused or read, never a stack
/// overflow that would abort the whole process.
#[test]
fn deeply_nested_reply_does_not_overflow_the_stack() {
    let node = cluster_node(|_| {
        let mut reply = "*1\r\n".repeat(100_000);
        reply.push_str(":1\r\n");
        Action::Reply(reply.into_bytes())
    });
    let store = open(&node).unwrap();
    let (r, took) = get(&store);
    match r.unwrap_err() {
        Error::Connection(c) => {
            assert_eq!(c.kind, ConnectionErrorKind::Protocol, "{c}");
            assert!(c.message.contains("nest deeper than 512 levels"), "{c}");
        }
        other => panic!("unexpected {other}"),
    }
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

/// Every behaviour of the catalogue the C, Ruby and Python suites also use
/// (`slotshift servers up --hostile`): a clear error, within the caller's timeouts (bounded
/// here only to catch a hang), and the store still answers the next call the same way.
#[test]
fn every_hostility_ends_in_a_clear_error() {
    use slotshift::testing::fake::Hostility;
    for hostility in Hostility::ALL {
        let node = hostility.start().unwrap();
        let store = open(&node).unwrap();
        for round in 0..2 {
            let (r, took) = get(&store);
            let err = r.expect_err(hostility.name());
            let text = err.to_string();
            assert!(!text.trim().is_empty(), "{hostility:?}: an empty message");
            match (hostility, &err) {
                (Hostility::EmptyError, Error::Server(_)) => {}
                (Hostility::MovedLoop | Hostility::MovedToUnknown, Error::Routing(_)) => {}
                (
                    _,
                    Error::Connection(_) | Error::Routing(RoutingError::DeadlineExceeded { .. }),
                ) => {}
                _ => panic!("{hostility:?} round {round}: unexpected {err:?}"),
            }
            assert!(took < Duration::from_secs(5), "{hostility:?} took {took:?}");
        }
    }
}

/// A node that answers half a reply and closes, on every connection: a read is re-sent after
/// each loss, but never past the URL's `?retry_deadline=`.
#[test]
fn the_url_retry_deadline_bounds_the_retries() {
    use slotshift::testing::fake::Hostility;
    let node = Hostility::MidReplyClose.start().unwrap();
    let url = format!("{}?command_timeout=300ms&retry_deadline=700ms", node.url());
    let store = Store::open(&url).unwrap();
    assert_eq!(store.options().retry_deadline, Duration::from_millis(700));
    let t = Instant::now();
    let err = store.call(&Cmd::from_args(["GET", "k"])).unwrap_err();
    let took = t.elapsed();
    // Given up on a lost connection: a connection error, saying how long it was retried.
    match &err {
        Error::Connection(c) => {
            assert_eq!(c.kind, ConnectionErrorKind::Io, "{err}");
            assert!(c.message.contains("retry deadline"), "{err}");
        }
        other => panic!("unexpected {other}"),
    }
    // Bounded by the deadline (plus one backoff pause), far below the 10 s default.
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

/// Something that speaks RESP but answers the cluster probe with a scalar (redis-rb's test
/// servers answer `+OK` to everything; a proxy, a server with CLUSTER renamed) is one server,
/// as a client given one URL expects — not a connect error.
#[test]
fn a_scalar_answer_to_the_cluster_probe_means_one_server() {
    let node = FakeNode::start(|_, _| Some(Action::raw("+OK\r\n"))).unwrap();
    let store = open(&node).unwrap();
    assert_eq!(store.kind(), slotshift::store::StoreKind::Standalone);
    assert_eq!(
        store.call(&Cmd::from_args(["GET", "k"])).unwrap(),
        slotshift::reply::Reply::Status("OK".into())
    );
}

/// A reply cut off half-way (the response timeout ends the wait) leaves its connection out of
/// step: the next call must not read the rest of the old reply as its own.
#[test]
fn a_reply_cut_off_by_the_timeout_does_not_reach_the_next_call() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let gets = AtomicUsize::new(0);
    let node = cluster_node(move |_| match gets.fetch_add(1, Ordering::SeqCst) {
        0 => Action::raw("$5\r\nhel"),
        _ => Action::raw("$2\r\nok\r\n"),
    });
    let store = open(&node).unwrap();
    match get(&store).0.unwrap_err() {
        Error::Connection(c) => assert_eq!(c.kind, ConnectionErrorKind::Timeout, "{c}"),
        other => panic!("unexpected {other}"),
    }
    for _ in 0..3 {
        assert_eq!(
            get(&store).0.unwrap(),
            slotshift::reply::Reply::Bulk(b"ok".to_vec())
        );
    }
}

/// A blocking call given up while its reply is awaited (a binding's interrupt drops the call's
/// future) leaves that thread's connection in the middle of an exchange: the thread's next
/// call gets a connection of its own, not the abandoned reply.
#[test]
fn a_call_abandoned_mid_reply_leaves_the_next_call_a_clean_connection() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let gets = AtomicUsize::new(0);
    let node = cluster_node(move |_| match gets.fetch_add(1, Ordering::SeqCst) {
        0 => Action::Hang,
        _ => Action::raw("$2\r\nok\r\n"),
    });
    let store = open(&node).unwrap();
    let cmd = Cmd::from_args(["GET", "k"]);
    let abandoned = slotshift::store::block_on(async {
        tokio::select! {
            r = store.call_async(&cmd) => Some(r),
            () = tokio::time::sleep(Duration::from_millis(100)) => None,
        }
    })
    .unwrap();
    assert!(abandoned.is_none(), "the hung GET answered: {abandoned:?}");
    // On the abandoned connection this GET would wait behind the hung one and time out.
    assert_eq!(
        get(&store).0.unwrap(),
        slotshift::reply::Reply::Bulk(b"ok".to_vec())
    );
}
