//! Sessions and subscribers (`slotshift::session`) on real servers: state that lives on one
//! connection (WATCH, SELECT), what closes a session (a timeout, an abandoned blocking pop, a
//! lost connection), pub/sub with its confirmations, and the cluster's targets.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::time::{Duration, Instant};

use slotshift::cluster::RoutingError;
use slotshift::command::Cmd;
use slotshift::net::NodeAddr;
use slotshift::reply::Reply;
use slotshift::session::{Monitor, Session, Subscriber, Target};
use slotshift::store::{ConnectionErrorKind, Store, StoreOptions};
use slotshift::testing::{Cluster, Standalone};
use slotshift::Error;

fn cmd(args: &[&str]) -> Cmd {
    Cmd::from_args(args)
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

/// A message as the subscriber gives it: `[kind, fields…]`, integers as integers.
fn msg(kind: &str, fields: &[&str]) -> Reply {
    let mut items = vec![bulk(kind)];
    for f in fields {
        items.push(match f.parse::<i64>() {
            Ok(n) => Reply::Int(n),
            Err(_) => bulk(f),
        });
    }
    Reply::Array(items)
}

fn next(sub: &Subscriber) -> Reply {
    sub.next_message(Some(Duration::from_secs(5)))
        .unwrap()
        .expect("a message within 5 s")
}

/// Waits until the server counts `n` clients blocked in a blocking command.
fn wait_blocked_clients(store: &Store, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = store.call(&cmd(&["INFO", "clients"])).unwrap();
        let text = String::from_utf8(info.as_bytes().unwrap().to_vec()).unwrap();
        let blocked = text
            .lines()
            .find_map(|l| l.strip_prefix("blocked_clients:"))
            .map(|v| v.trim().parse::<i64>().unwrap())
            .unwrap();
        if blocked == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "blocked_clients stayed {blocked}, not {n}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn watch_then_exec_runs_only_when_no_watched_key_changed() {
    let server = Standalone::start().unwrap();
    let store = Store::open(&server.url()).unwrap();
    let session = Session::open(&store, &Target::Key(b"balance".to_vec())).unwrap();
    let transaction = [cmd(&["MULTI"]), cmd(&["INCR", "balance"]), cmd(&["EXEC"])];

    session.call(&cmd(&["WATCH", "balance"])).unwrap();
    let replies = session.pipeline(&transaction).unwrap();
    assert_eq!(replies.len(), 3);
    assert_eq!(
        replies[2].as_ref().unwrap(),
        &Reply::Array(vec![Reply::Int(1)])
    );

    // Another connection writes the watched key in between: EXEC runs nothing.
    session.call(&cmd(&["WATCH", "balance"])).unwrap();
    store.call(&cmd(&["SET", "balance", "100"])).unwrap();
    let replies = session.pipeline(&transaction).unwrap();
    assert_eq!(replies[2].as_ref().unwrap(), &Reply::Nil);
    assert_eq!(store.call(&cmd(&["GET", "balance"])).unwrap(), bulk("100"));
}

#[test]
fn select_and_client_name_stay_on_the_session() {
    let server = Standalone::start().unwrap();
    let store = Store::open(&server.url()).unwrap();
    let session = Session::open(&store, &Target::Default).unwrap();
    session.call(&cmd(&["SELECT", "3"])).unwrap();
    session.call(&cmd(&["SET", "k", "in-db-3"])).unwrap();
    session
        .call(&cmd(&["CLIENT", "SETNAME", "the-session"]))
        .unwrap();
    assert_eq!(session.call(&cmd(&["GET", "k"])).unwrap(), bulk("in-db-3"));
    assert_eq!(
        session.call(&cmd(&["CLIENT", "GETNAME"])).unwrap(),
        bulk("the-session")
    );
    // The store's own connections are untouched.
    assert_eq!(store.call(&cmd(&["GET", "k"])).unwrap(), Reply::Nil);
    assert_eq!(
        store.call(&cmd(&["CLIENT", "GETNAME"])).unwrap(),
        Reply::Nil
    );
}

#[test]
fn an_error_reply_leaves_the_session_open() {
    let server = Standalone::start().unwrap();
    let store = Store::open(&server.url()).unwrap();
    let session = Session::open(&store, &Target::Default).unwrap();
    session.call(&cmd(&["SET", "s", "text"])).unwrap();
    match session.call(&cmd(&["INCR", "s"])) {
        Err(Error::Server(e)) => assert_eq!(e.code(), "ERR", "{e}"),
        other => panic!("expected an error reply, got {other:?}"),
    }
    let replies = session
        .pipeline(&[cmd(&["INCR", "s"]), cmd(&["PING"])])
        .unwrap();
    assert!(matches!(&replies[0], Err(Error::Server(_))), "{replies:?}");
    assert_eq!(replies[1].as_ref().unwrap(), &Reply::Status("PONG".into()));
    assert!(session.is_open());
}

#[test]
fn an_abandoned_blocking_pop_closes_the_session_and_pops_nothing() {
    let server = Standalone::start().unwrap();
    let store = Store::open(&server.url()).unwrap();
    let session = Session::open(&store, &Target::Default).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let blpop = cmd(&["BLPOP", "queue", "0"]);
    // The caller gives up on the pop (its future is dropped), as an interrupted thread does.
    let gave_up = rt.block_on(async {
        tokio::time::timeout(Duration::from_millis(300), session.call_async(&blpop)).await
    });
    assert!(
        gave_up.is_err(),
        "BLPOP on an empty list returned {gave_up:?}"
    );
    assert!(!session.is_open());
    // The server let go of the blocked client: an element pushed now stays in the list.
    wait_blocked_clients(&store, 0);
    store.call(&cmd(&["LPUSH", "queue", "job"])).unwrap();
    assert_eq!(store.call(&cmd(&["LLEN", "queue"])).unwrap(), Reply::Int(1));
    match session.call(&cmd(&["PING"])) {
        Err(Error::Connection(e)) => {
            assert!(e.message.contains("closed"), "{e}");
            assert!(e.message.contains("abandoned"), "{e}");
        }
        other => panic!("expected the closed session's error, got {other:?}"),
    }
}

#[test]
fn a_blocking_pop_waits_past_the_response_timeout_for_as_long_as_it_asks() {
    let server = Standalone::start().unwrap();
    let mut opts = StoreOptions::default();
    opts.response_timeout = Duration::from_millis(200);
    let store = Store::open_with_options(&server.url(), opts).unwrap();
    let session = Session::open(&store, &Target::Default).unwrap();
    std::thread::scope(|s| {
        let popper = s.spawn(|| session.call(&cmd(&["BLPOP", "q", "10"])));
        wait_blocked_clients(&store, 1);
        std::thread::sleep(Duration::from_millis(400));
        store.call(&cmd(&["RPUSH", "q", "late"])).unwrap();
        assert_eq!(
            popper.join().unwrap().unwrap(),
            Reply::Array(vec![bulk("q"), bulk("late")])
        );
    });
    assert!(session.is_open());
}

#[test]
fn a_timeout_closes_the_session_and_says_so() {
    let server = Standalone::start().unwrap();
    let mut opts = StoreOptions::default();
    opts.response_timeout = Duration::from_millis(100);
    let store = Store::open_with_options(&server.url(), opts).unwrap();
    let session = Session::open(&store, &Target::Default).unwrap();
    // The server holds every client's commands for 500 ms (the PAUSE itself returns at once).
    store
        .call(&cmd(&["CLIENT", "PAUSE", "500", "ALL"]))
        .unwrap();
    match session.call(&cmd(&["PING"])) {
        Err(Error::Connection(e)) => {
            assert_eq!(e.kind, ConnectionErrorKind::Timeout, "{e}");
            assert!(e.outcome_unknown);
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(!session.is_open());
    match session.call(&cmd(&["PING"])) {
        Err(Error::Connection(e)) => assert!(e.message.contains("no reply within"), "{e}"),
        other => panic!("expected the closed session's error, got {other:?}"),
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        store.call(&cmd(&["PING"])).unwrap(),
        Reply::Status("PONG".into())
    );
}

#[test]
fn subscriber_gives_confirmations_and_messages_in_order() {
    let server = Standalone::start().unwrap();
    let store = Store::open(&server.url()).unwrap();
    let sub = Subscriber::open(&store, &Target::Default).unwrap();

    sub.subscribe(&["news", "sport"]).unwrap();
    assert_eq!(next(&sub), msg("subscribe", &["news", "1"]));
    assert_eq!(next(&sub), msg("subscribe", &["sport", "2"]));
    sub.psubscribe(&["weather.*"]).unwrap();
    assert_eq!(next(&sub), msg("psubscribe", &["weather.*", "3"]));

    assert_eq!(store.publish("news", "hello").unwrap(), 1);
    assert_eq!(store.publish("weather.oslo", b"\xffsnow").unwrap(), 1);
    assert_eq!(store.publish("nobody-listens", "x").unwrap(), 0);
    assert_eq!(next(&sub), msg("message", &["news", "hello"]));
    assert_eq!(
        next(&sub),
        Reply::Array(vec![
            bulk("pmessage"),
            bulk("weather.*"),
            bulk("weather.oslo"),
            Reply::Bulk(b"\xffsnow".to_vec()),
        ])
    );
    // Nothing more: a timeout is Ok(None), and the next message still arrives whole.
    assert_eq!(
        sub.next_message(Some(Duration::from_millis(50))).unwrap(),
        None
    );
    store.publish("sport", "goal").unwrap();
    assert_eq!(next(&sub), msg("message", &["sport", "goal"]));

    // Other commands run on the subscribed connection.
    assert_eq!(
        sub.call(&cmd(&["PING"])).unwrap(),
        Reply::Status("PONG".into())
    );

    // Unsubscribing from all channels: one confirmation per channel (in the server's order),
    // each counting what is left, the pattern included.
    sub.unsubscribe::<&str>(&[]).unwrap();
    let (first, second) = (next(&sub), next(&sub));
    let expected =
        |a: &str, b: &str| vec![msg("unsubscribe", &[a, "2"]), msg("unsubscribe", &[b, "1"])];
    let got = vec![first, second];
    assert!(
        got == expected("news", "sport") || got == expected("sport", "news"),
        "{got:?}"
    );
    sub.punsubscribe(&["weather.*"]).unwrap();
    assert_eq!(next(&sub), msg("punsubscribe", &["weather.*", "0"]));
    assert_eq!(store.publish("news", "gone").unwrap(), 0);
}

#[test]
fn subscribing_to_nothing_is_refused_before_sending() {
    let server = Standalone::start().unwrap();
    let store = Store::open(&server.url()).unwrap();
    let sub = Subscriber::open(&store, &Target::Default).unwrap();
    match sub.subscribe::<&str>(&[]) {
        Err(Error::Server(e)) => assert!(e.detail().contains("SUBSCRIBE needs"), "{e}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(sub.is_open());
}

#[test]
fn a_lost_subscriber_connection_gives_what_came_then_says_why() {
    let server = Standalone::start().unwrap();
    let store = Store::open(&server.url()).unwrap();
    let sub = Subscriber::open(&store, &Target::Default).unwrap();
    sub.subscribe(&["c"]).unwrap();
    store.publish("c", "before").unwrap();
    store
        .call(&cmd(&["CLIENT", "KILL", "TYPE", "pubsub"]))
        .unwrap();
    assert_eq!(next(&sub), msg("subscribe", &["c", "1"]));
    assert_eq!(next(&sub), msg("message", &["c", "before"]));
    match sub.next_message(Some(Duration::from_secs(5))) {
        Err(Error::Connection(e)) => assert!(e.message.contains("lost"), "{e}"),
        other => panic!("expected the lost connection's error, got {other:?}"),
    }
    assert!(!sub.is_open());
    assert!(sub.subscribe(&["c"]).is_err());
}

#[test]
fn cluster_targets_pick_the_slot_owner_and_shard_channels_work() {
    let cluster = Cluster::start(3, 0).unwrap();
    let store = Store::open(&cluster.url()).unwrap();
    let topology = store.topology().unwrap().unwrap();

    let key = b"user:{42}:cart".to_vec();
    let session = Session::open(&store, &Target::Key(key.clone())).unwrap();
    let owner = topology.master_of(slotshift::key_slot(&key)).unwrap();
    assert_eq!(session.node(), owner);
    session.call(&cmd(&["WATCH", "user:{42}:cart"])).unwrap();
    store
        .call(&cmd(&["SET", "user:{42}:cart", "changed"]))
        .unwrap();
    let replies = session
        .pipeline(&[
            cmd(&["MULTI"]),
            cmd(&["SET", "user:{42}:cart", "mine"]),
            cmd(&["EXEC"]),
        ])
        .unwrap();
    assert_eq!(replies[2].as_ref().unwrap(), &Reply::Nil);

    // A shard channel is heard on its slot's master; SPUBLISH through the store reaches it.
    let channel = "orders:{42}";
    let sub = Subscriber::open(&store, &Target::Key(channel.as_bytes().to_vec())).unwrap();
    assert_eq!(sub.node(), owner);
    sub.ssubscribe(&[channel]).unwrap();
    assert_eq!(next(&sub), msg("ssubscribe", &[channel, "1"]));
    store.call(&cmd(&["SPUBLISH", channel, "paid"])).unwrap();
    assert_eq!(next(&sub), msg("smessage", &[channel, "paid"]));
    sub.sunsubscribe::<&str>(&[]).unwrap();
    assert_eq!(next(&sub), msg("sunsubscribe", &[channel, "0"]));

    // Plain channels: a PUBLISH on any node reaches a subscriber on any other.
    let plain = Subscriber::open(&store, &Target::Default).unwrap();
    plain.subscribe(&["broadcast"]).unwrap();
    assert_eq!(next(&plain), msg("subscribe", &["broadcast", "1"]));
    let other = topology.masters().find(|m| *m != plain.node()).unwrap();
    store
        .call_on(other, &cmd(&["PUBLISH", "broadcast", "hi"]))
        .unwrap();
    assert_eq!(next(&plain), msg("message", &["broadcast", "hi"]));

    // A node the cluster does not list is refused by name.
    match Session::open(&store, &Target::Node(NodeAddr::new("127.0.0.1", 1))) {
        Err(Error::Routing(RoutingError::UnknownNode { addr, known })) => {
            assert_eq!(addr, "127.0.0.1:1");
            assert!(known.contains(&owner.to_string()), "{known}");
        }
        other => panic!("expected UnknownNode, got {other:?}"),
    }
}

/// What needs a connection of its own is refused by the store, before anything is sent: on
/// shared connections SELECT would move every caller to another database, SUBSCRIBE would
/// take the connection away from them.
#[test]
fn the_store_refuses_connection_state_commands() {
    let server = Standalone::start().unwrap();
    let store = Store::open(&server.url()).unwrap();
    for args in [
        &["SELECT", "1"][..],
        &["multi"],
        &["WATCH", "k"],
        &["SUBSCRIBE", "c"],
        &["MONITOR"],
        &["HELLO", "3"],
        &["AUTH", "pw"],
        &["CLIENT", "SETNAME", "x"],
        &["client", "tracking", "on"],
    ] {
        match store.call(&cmd(args)) {
            Err(Error::Command(slotshift::command::CommandError::NeedsOwnConnection {
                command,
            })) => assert!(command.eq_ignore_ascii_case(args[0]) || command.starts_with("CLIENT")),
            other => panic!("{args:?}: expected a refusal, got {other:?}"),
        }
    }
    // A pipeline with one of them is refused whole: the SET before it is not sent.
    let err = store
        .pipeline(&[cmd(&["SET", "before", "1"]), cmd(&["SELECT", "2"])])
        .unwrap_err();
    assert!(err.to_string().contains("connection of its own"), "{err}");
    assert_eq!(store.call(&cmd(&["GET", "before"])).unwrap(), Reply::Nil);
    // Reading the connection's state is fine; so is the same command on a session.
    store.call(&cmd(&["CLIENT", "GETNAME"])).unwrap();
    let session = Session::open(&store, &Target::Default).unwrap();
    session.call(&cmd(&["SELECT", "1"])).unwrap();
    assert!(session.is_open());
}

/// `client_name`: every connection the store opens (shared, dedicated for blocking commands,
/// sessions) names itself; a name Redis would refuse is refused up front.
#[test]
fn every_connection_carries_the_client_name() {
    let server = Standalone::start().unwrap();
    let mut opts = StoreOptions::default();
    opts.client_name = Some("billing-worker".into());
    let store = Store::open_with_options(&server.url(), opts.clone()).unwrap();
    assert_eq!(
        store.call(&cmd(&["CLIENT", "GETNAME"])).unwrap(),
        bulk("billing-worker")
    );
    let session = Session::open(&store, &Target::Default).unwrap();
    assert_eq!(
        session.call(&cmd(&["CLIENT", "GETNAME"])).unwrap(),
        bulk("billing-worker")
    );
    opts.client_name = Some("has space".into());
    match Store::open_with_options(&server.url(), opts) {
        Err(Error::Config(e)) => assert!(e.to_string().contains("client name"), "{e}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// After `close()` returns, the server no longer counts the subscriptions (the confirmations
/// are awaited before the socket goes); and unsubscribing from all, subscribing again and
/// unsubscribing from all with confirmations left unread never loses count.
#[test]
fn subscriptions_end_when_close_returns_and_unsubscribe_all_stays_in_step() {
    let server = Standalone::start().unwrap();
    let store = Store::open(&server.url()).unwrap();
    for _ in 0..20 {
        let sub = Subscriber::open(&store, &Target::Default).unwrap();
        sub.psubscribe(&["news.*"]).unwrap();
        sub.subscribe(&["a", "b"]).unwrap();
        sub.close();
        assert_eq!(
            store.call(&cmd(&["PUBSUB", "NUMPAT"])).unwrap(),
            Reply::Int(0)
        );
        assert_eq!(
            store.call(&cmd(&["PUBSUB", "NUMSUB", "a"])).unwrap(),
            Reply::Array(vec![bulk("a"), Reply::Int(0)])
        );
    }
    let sub = Subscriber::open(&store, &Target::Default).unwrap();
    sub.subscribe(&["foo"]).unwrap();
    sub.unsubscribe::<&str>(&[]).unwrap();
    sub.subscribe(&["foo"]).unwrap();
    sub.unsubscribe::<&str>(&[]).unwrap(); // its confirmation left unread
    sub.subscribe(&["bar"]).unwrap();
    sub.unsubscribe::<&str>(&[]).unwrap();
    // Nothing left: the bare command, confirmed once with a nil name.
    sub.unsubscribe::<&str>(&[]).unwrap();
    let mut kinds = Vec::new();
    while let Some(m) = sub.next_message(Some(Duration::from_millis(200))).unwrap() {
        let Reply::Array(items) = m else { panic!() };
        kinds.push(items[0].clone());
    }
    assert_eq!(kinds.len(), 7, "{kinds:?}");
    assert_eq!(
        kinds.last().unwrap(),
        &bulk("unsubscribe"),
        "the last confirmation is the bare unsubscribe's"
    );
}

/// MONITOR on a connection of its own: the store's commands show up in its lines; an empty
/// wait is `None`, and a closed monitor says so.
#[test]
fn a_monitor_sees_the_commands_the_server_runs() {
    let server = Standalone::start().unwrap();
    let store = Store::open(&server.url()).unwrap();
    let monitor = Monitor::open(&store, &Target::Default).unwrap();
    assert_eq!(
        monitor.next_line(Some(Duration::from_millis(50))).unwrap(),
        None
    );
    store.call(&cmd(&["SET", "monitored", "v"])).unwrap();
    let mut seen = Vec::new();
    while let Some(line) = monitor.next_line(Some(Duration::from_secs(5))).unwrap() {
        let done = line.contains("\"monitored\"");
        seen.push(line);
        if done {
            break;
        }
    }
    let last = seen.last().expect("a line");
    assert!(last.contains("\"SET\" \"monitored\" \"v\""), "{seen:?}");
    monitor.close();
    let err = monitor
        .next_line(Some(Duration::from_millis(50)))
        .unwrap_err();
    assert!(err.to_string().contains("this monitor is closed"), "{err}");
}

/// A line or message given back (`unread`: read, then not delivered) is the next one read,
/// before what the server sent after it.
#[test]
fn what_a_reader_gives_back_is_read_next() {
    let server = Standalone::start().unwrap();
    let store = Store::open(&server.url()).unwrap();
    let monitor = Monitor::open(&store, &Target::Default).unwrap();
    store.call(&cmd(&["SET", "given-back", "v"])).unwrap();
    let line = loop {
        let line = monitor
            .next_line(Some(Duration::from_secs(5)))
            .unwrap()
            .unwrap();
        if line.contains("\"given-back\"") {
            break line;
        }
    };
    monitor.unread(line.clone());
    store.call(&cmd(&["GET", "given-back"])).unwrap();
    assert_eq!(
        monitor.next_line(Some(Duration::from_secs(5))).unwrap(),
        Some(line)
    );
    let after = monitor
        .next_line(Some(Duration::from_secs(5)))
        .unwrap()
        .unwrap();
    assert!(after.contains("\"GET\" \"given-back\""), "{after}");

    let sub = Subscriber::open(&store, &Target::Default).unwrap();
    sub.subscribe(&["back"]).unwrap();
    assert_eq!(next(&sub), msg("subscribe", &["back", "1"]));
    store.publish("back", "first").unwrap();
    let first = next(&sub);
    sub.unread(first.clone());
    store.publish("back", "second").unwrap();
    assert_eq!(next(&sub), first);
    assert_eq!(next(&sub), msg("message", &["back", "second"]));
}

/// `Store::quit` says QUIT on the store's connection and drops it; the next command opens a
/// new one (another client id), on a standalone server and on every node of a cluster.
#[test]
fn quit_closes_the_stores_connections_and_the_next_command_reconnects() {
    let server = Standalone::start().unwrap();
    let store = Store::open(&server.url()).unwrap();
    let before = store.call(&cmd(&["CLIENT", "ID"])).unwrap();
    store.quit().unwrap();
    let after = store.call(&cmd(&["CLIENT", "ID"])).unwrap();
    assert_ne!(before, after, "the same connection after QUIT");

    let cluster = Cluster::start(3, 0).unwrap();
    let store = Store::open(&cluster.url()).unwrap();
    store
        .call(&cmd(&["MSET", "{a}1", "x", "{b}2", "y", "{c}3", "z"]))
        .unwrap();
    let ids = |store: &Store| {
        store
            .masters()
            .unwrap()
            .iter()
            .map(|m| store.call_on(m, &cmd(&["CLIENT", "ID"])).unwrap())
            .collect::<Vec<_>>()
    };
    let before = ids(&store);
    store.quit().unwrap();
    let after = ids(&store);
    for (b, a) in before.iter().zip(&after) {
        assert_ne!(b, a, "a master kept its connection after QUIT");
    }
    assert_eq!(store.call(&cmd(&["GET", "{b}2"])).unwrap(), bulk("y"));
}

/// Each thread that makes blocking calls has connections of its own; they close when the
/// thread ends, when `close_thread_connections` is called, and (for the calling thread) when
/// the store is dropped — at once, not at the thread's next call.
#[test]
fn a_threads_connections_close_with_the_thread_the_call_or_the_store() {
    let server = Standalone::start().unwrap();
    let observer = Store::open(&server.url()).unwrap();
    let client_id = |store: &Store| match store.call(&cmd(&["CLIENT", "ID"])).unwrap() {
        Reply::Int(id) => id,
        other => panic!("CLIENT ID answered {other:?}"),
    };
    let open = |id: i64| match observer.call(&cmd(&["CLIENT", "LIST"])).unwrap() {
        Reply::Bulk(list) => String::from_utf8(list)
            .unwrap()
            .lines()
            .any(|line| line.starts_with(&format!("id={id} "))),
        other => panic!("CLIENT LIST answered {other:?}"),
    };
    // The server sees a close a moment after the client makes it.
    let closes = |id: i64| {
        let deadline = Instant::now() + Duration::from_secs(5);
        while open(id) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        !open(id)
    };

    let store = Store::open(&server.url()).unwrap();
    let mine = client_id(&store);
    let other = store.clone();
    let theirs = std::thread::spawn(move || client_id(&other))
        .join()
        .unwrap();
    assert_ne!(mine, theirs, "two threads shared a connection");
    assert!(closes(theirs), "an ended thread's connection is still open");
    assert!(open(mine));

    slotshift::store::close_thread_connections();
    assert!(
        closes(mine),
        "close_thread_connections left the connection open"
    );
    let again = client_id(&store);
    assert_ne!(again, mine);

    drop(store);
    assert!(closes(again), "a dropped store's connection is still open");
}
