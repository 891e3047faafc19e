//! One node's connections, opened lazily, dropped after an I/O error or a timeout so the next
//! request opens a fresh one. A blocking caller's thread has its own (driven by that thread,
//! see [`crate::net::runtime`]): slotshift's own [`Wire`] where it can (plain TCP), else a
//! `redis` multiplexed connection. Async callers and background work share one multiplexed
//! connection per node (one connect at a time per node).
//!
//! Blocking callers share that multiplexed connection too while the node is crowded: from when
//! [`CROWD`] or more of their requests are already in flight to it until fewer than
//! [`UNCROWDED`] are while fewer than [`CROWD`] are in flight to all the process's nodes
//! together. Callers that spread over several nodes or stores come and go at each: a dual
//! write's callers all wait on the slower store while the faster one's nodes empty, and a node
//! that stopped being crowded then sent a tenth of their next requests on the callers' own
//! connections (one server read and write each) before it filled up again.
//!
//! One caller's own connection saves the hand-off to the shared runtime's threads (one round
//! trip, nothing else); many callers' requests on one connection reach the server in one write
//! and are answered in one, where as many connections cost the server a wake-up, a read and a
//! write each (measured with 64 threads on one standalone server: 1.37× the throughput and a
//! fifth of the server's CPU per request, docs/BENCHMARKS.md).
//!
//! Multiplexing keeps replies in request order per connection: a caller that gives up on a
//! request (timeout, dropped future) leaves its reply to be read and discarded, never handed
//! to another caller. A [`Wire`] left in the middle of an exchange is not used again.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, ProtocolVersion, PushInfo};

use crate::command::Cmd;
use crate::net::wire::{out_of_step, Part, Setup, Wire};
use crate::net::{runtime, ConnectionError, ConnectionErrorKind, NetOptions, NodeAddr};
use crate::reply::Reply;

/// Where a dedicated RESP3 connection sends its push frames.
pub(crate) type PushSender = tokio::sync::mpsc::UnboundedSender<PushInfo>;

/// A request that failed below the protocol: no reply came back.
#[derive(Debug)]
pub(crate) struct NodeFailure {
    pub(crate) error: ConnectionError,
    /// Whether the bytes may have reached the server (false: the connection never opened).
    pub(crate) sent: bool,
}

impl NodeFailure {
    /// Whether the router may try the request again (on the same or a new owner): not after a
    /// timeout (the caller's timeout is the budget it gave; waiting again would outlast it),
    /// not after bytes that are not RESP (the peer is broken, not busy), and not when the
    /// request may have run unless it is safe to run twice.
    pub(crate) fn retryable(&self, resend_on_loss: bool) -> bool {
        !matches!(
            self.error.kind,
            ConnectionErrorKind::Protocol | ConnectionErrorKind::Timeout
        ) && (!self.sent || resend_on_loss)
    }
}

pub(crate) struct NodeConn {
    pub(crate) addr: NodeAddr,
    /// How to open a connection to the node (shared with tasks on the shared runtime).
    spec: Arc<Spec>,
    /// Names this node's connections in the caller threads' maps ([`CALLER_CONNS`]).
    id: u64,
    /// Dropped with the node: caller threads forget their connections to a node that is gone.
    alive: Arc<()>,
    /// Numbers every connection opened (shared or a caller thread's), for [`Self::invalidate`].
    opened: AtomicU64,
    /// Bumped by [`Self::quit`]: caller threads drop connections opened before it.
    epoch: AtomicU64,
    /// The shared connection (async callers, background work, blocking callers of a crowded
    /// node) and its number.
    state: Mutex<(u64, Option<MultiplexedConnection>)>,
    gate: tokio::sync::Mutex<()>,
    response_timeout: Duration,
    /// Blocking callers' requests in flight to the node now ([`InFlight`]).
    blocking_in_flight: AtomicUsize,
    /// Whether blocking callers share the multiplexed connection: set at [`CROWD`] requests
    /// in flight, cleared below [`UNCROWDED`] while the process has fewer than [`CROWD`] in
    /// flight to all its nodes.
    crowded: AtomicBool,
}

/// Blocking callers' requests in flight to one node from which a new one takes the node's
/// shared multiplexed connection instead of its thread's own (see the module documentation).
pub(crate) const CROWD: usize = 8;

/// Once a node is crowded, blocking callers keep sharing its connection until fewer than this
/// many of their requests are in flight to it (and few to the process's other nodes, see
/// [`crowded`]): callers that spread over several nodes or stores (a dual write) hover around
/// [`CROWD`] at each, and would otherwise go back and forth.
const UNCROWDED: usize = 2;

/// Whether a node is crowded once a request arrives with `ahead` others in flight to the node
/// and `process_ahead` to any node of the process, given whether it `was`: from [`CROWD`]
/// ahead on, until fewer than [`UNCROWDED`] are ahead while fewer than [`CROWD`] are in
/// flight in the whole process.
fn crowded(was: bool, ahead: usize, process_ahead: usize) -> bool {
    match ahead {
        a if a >= CROWD => true,
        a if a < UNCROWDED && process_ahead < CROWD => false,
        _ => was,
    }
}

/// Blocking callers' requests in flight to every node of this process (blocking commands,
/// which go on connections of their own, are not counted).
static PROCESS_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// A blocking caller's request to a node, counted in [`NodeConn::blocking_in_flight`] and in
/// [`PROCESS_IN_FLIGHT`] while it lives.
struct InFlight<'a> {
    count: &'a AtomicUsize,
    /// How many were in flight to the node when this one started.
    ahead: usize,
    /// How many were in flight to any node of the process when this one started.
    process_ahead: usize,
}

impl<'a> InFlight<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        let ahead = count.fetch_add(1, Ordering::Relaxed);
        let process_ahead = PROCESS_IN_FLIGHT.fetch_add(1, Ordering::Relaxed);
        InFlight {
            count,
            ahead,
            process_ahead,
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
        PROCESS_IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How to open a connection to one node: address, auth and TLS, set-up commands, timeouts.
struct Spec {
    addr: NodeAddr,
    info: ConnectionInfo,
    /// Send `READONLY` after connecting (reads from a cluster replica).
    readonly: bool,
    /// `CLIENT SETNAME` after connecting.
    client_name: Option<String>,
    connect_timeout: Duration,
}

/// A connection a request goes out on.
#[derive(Clone)]
enum Link {
    /// slotshift's own: a blocking caller thread's, to a plain TCP address.
    Wire(Arc<tokio::sync::Mutex<Wire>>),
    /// The `redis` crate's multiplexed connection.
    Mux(MultiplexedConnection),
}

impl Link {
    /// Whether the connection was left in the middle of an exchange (never true of a
    /// multiplexed one, which reads and drops a reply nobody waits for).
    fn is_broken(&self) -> bool {
        match self {
            Link::Wire(wire) => wire.try_lock().is_ok_and(|w| w.is_broken()),
            Link::Mux(_) => false,
        }
    }
}

/// A caller thread's own connection to one node (see [`crate::net::runtime`]).
struct CallerConn {
    /// The node's liveness token: a connection to a dropped node is forgotten.
    node: Weak<()>,
    number: u64,
    epoch: u64,
    conn: Link,
}

thread_local! {
    /// This thread's connections for its blocking calls, by node id, with the pid that opened
    /// them (a forked child starts with none). Their I/O runs only while the thread is in a
    /// blocking call, so no other thread may use them.
    static CALLER_CONNS: RefCell<(u32, HashMap<u64, CallerConn>)> =
        RefCell::new((0, HashMap::new()));
}

/// Numbers nodes for [`CALLER_CONNS`].
static NEXT_NODE_ID: AtomicU64 = AtomicU64::new(0);

/// `template` with its address replaced by `addr`, keeping auth, db and TLS settings.
pub(crate) fn info_for(template: &ConnectionInfo, addr: &NodeAddr) -> ConnectionInfo {
    let new_addr = match template.addr() {
        ConnectionAddr::TcpTls {
            insecure,
            tls_params,
            ..
        } => ConnectionAddr::TcpTls {
            host: addr.host.to_string(),
            port: addr.port,
            insecure: *insecure,
            tls_params: tls_params.clone(),
        },
        _ => ConnectionAddr::Tcp(addr.host.to_string(), addr.port),
    };
    template.clone().set_addr(new_addr)
}

/// The address a connection info points at (`unix:` sockets get port 0).
pub(crate) fn addr_of(info: &ConnectionInfo) -> NodeAddr {
    match info.addr() {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
            NodeAddr::new(host, *port)
        }
        ConnectionAddr::Unix(path) => NodeAddr::new(&path.to_string_lossy(), 0),
        #[allow(unreachable_patterns)]
        _ => NodeAddr::new("?", 0),
    }
}

impl NodeConn {
    pub(crate) fn new(info: ConnectionInfo, readonly: bool, opts: &NetOptions) -> NodeConn {
        let addr = addr_of(&info);
        NodeConn {
            addr: addr.clone(),
            spec: Arc::new(Spec {
                addr,
                info,
                readonly,
                client_name: opts.client_name.clone(),
                connect_timeout: opts.connect_timeout,
            }),
            id: NEXT_NODE_ID.fetch_add(1, Ordering::Relaxed),
            alive: Arc::new(()),
            opened: AtomicU64::new(1),
            epoch: AtomicU64::new(0),
            state: Mutex::new((0, None)),
            gate: tokio::sync::Mutex::new(()),
            response_timeout: opts.response_timeout,
            blocking_in_flight: AtomicUsize::new(0),
            crowded: AtomicBool::new(false),
        }
    }

    pub(crate) fn is_tls(&self) -> bool {
        self.spec.is_tls()
    }

    fn current(&self) -> Option<(u64, MultiplexedConnection)> {
        let state = self.state.lock();
        state.1.clone().map(|c| (state.0, c))
    }

    /// The connection for a request, numbered for [`Self::invalidate`]: the caller thread's
    /// own with `own`, else the shared one (whose I/O runs on the shared runtime); opened when
    /// there is none.
    async fn connection(&self, own: bool) -> Result<(u64, Link), ConnectionError> {
        if own {
            return self.caller_connection().await;
        }
        if let Some((number, conn)) = self.current() {
            return Ok((number, Link::Mux(conn)));
        }
        let _gate = self.gate.lock().await;
        if let Some((number, conn)) = self.current() {
            return Ok((number, Link::Mux(conn)));
        }
        let (spec, timeout) = (Arc::clone(&self.spec), self.response_timeout);
        let conn = runtime::on_shared(async move { spec.open(Some(timeout), None).await }).await?;
        let number = self.opened.fetch_add(1, Ordering::Relaxed);
        *self.state.lock() = (number, Some(conn.clone()));
        Ok((number, Link::Mux(conn)))
    }

    /// This thread's connection to the node, opened on its caller-thread runtime.
    async fn caller_connection(&self) -> Result<(u64, Link), ConnectionError> {
        let epoch = self.epoch.load(Ordering::Acquire);
        let mine = with_caller_conns(|conns| {
            conns
                .get(&self.id)
                .filter(|c| c.epoch == epoch && !c.conn.is_broken())
                .map(|c| (c.number, c.conn.clone()))
        });
        if let Some(Some(c)) = mine {
            return Ok(c);
        }
        let conn = if self.spec.wire_capable() {
            let wire = self.spec.open_wire(Some(self.response_timeout)).await?;
            Link::Wire(Arc::new(tokio::sync::Mutex::new(wire)))
        } else {
            Link::Mux(self.spec.open(Some(self.response_timeout), None).await?)
        };
        let number = self.opened.fetch_add(1, Ordering::Relaxed);
        with_caller_conns(|conns| {
            // Forget connections to nodes that are gone before adding one.
            conns.retain(|_, c| c.node.strong_count() > 0);
            conns.insert(
                self.id,
                CallerConn {
                    node: Arc::downgrade(&self.alive),
                    number,
                    epoch,
                    conn: conn.clone(),
                },
            );
        });
        Ok((number, conn))
    }

    /// A new connection of the caller's own, opened within the connect timeout, with
    /// `response_timeout` on its replies (`None`: the caller times each request). With `push`,
    /// it speaks RESP3 and every push frame (pub/sub messages and subscription confirmations)
    /// goes to `push`; a lost connection sends a `Disconnection` push. It may outlive the call
    /// and serve other threads, so its I/O runs on the shared runtime.
    pub(crate) async fn open_dedicated(
        &self,
        response_timeout: Option<Duration>,
        push: Option<PushSender>,
    ) -> Result<MultiplexedConnection, ConnectionError> {
        let spec = Arc::clone(&self.spec);
        runtime::on_shared(async move { spec.open(response_timeout, push).await }).await
    }

    /// A connection of the caller's own that runs `MONITOR` (set up as the node's others:
    /// auth, database, TLS), opened within the connect timeout on the shared runtime; yields
    /// the server's command log, one line per command.
    pub(crate) async fn open_monitor(&self) -> Result<redis::aio::Monitor, ConnectionError> {
        let spec = Arc::clone(&self.spec);
        runtime::on_shared(async move { spec.open_monitor().await }).await
    }

    /// Says QUIT on the connection this thread would use (waiting at most the response timeout
    /// for the server's OK), then forgets it; caller threads' connections opened before are
    /// dropped at their next use. The next request opens a new one.
    pub(crate) async fn quit(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let quit = redis::cmd("quit");
        if runtime::on_caller_thread() {
            let mine = with_caller_conns(|conns| conns.remove(&self.id)).flatten();
            match mine.map(|m| m.conn) {
                Some(Link::Wire(wire)) => {
                    let _ = wire.lock().await.exchange(&[Part::Word("quit")]).await;
                }
                Some(Link::Mux(mut conn)) => {
                    let _ = tokio::time::timeout(
                        self.response_timeout,
                        conn.send_packed_command(&quit),
                    )
                    .await;
                }
                None => {}
            }
        }
        if let Some((number, mut conn)) = self.current() {
            let _ =
                tokio::time::timeout(self.response_timeout, conn.send_packed_command(&quit)).await;
            self.invalidate(number);
        }
    }

    /// Forget connection `number` (after it failed), so the next request reconnects.
    pub(crate) fn invalidate(&self, number: u64) {
        {
            let mut state = self.state.lock();
            if state.0 == number {
                state.1 = None;
            }
        }
        with_caller_conns(|conns| {
            if conns.get(&self.id).is_some_and(|c| c.number == number) {
                conns.remove(&self.id);
            }
        });
    }

    /// Sends one command; its reply (an error reply too).
    pub(crate) async fn send_one(&self, cmd: &Cmd) -> Result<Reply, NodeFailure> {
        let mut replies = self.send(&[Part::Cmd(cmd)]).await?;
        Ok(replies.pop().unwrap_or(Reply::Nil))
    }

    /// Sends one command that may block the connection for `wait` (`None`: for ever) on a
    /// connection of its own — a blocked command holds its connection, so it must not be the
    /// shared one — with a reply timeout of `wait` plus the usual response timeout.
    pub(crate) async fn send_blocking(
        &self,
        cmd: &Cmd,
        wait: Option<Duration>,
    ) -> Result<Reply, NodeFailure> {
        let timeout = wait.map(|w| w + self.response_timeout);
        let mut conn = self
            .open_dedicated(timeout, None)
            .await
            .map_err(|error| NodeFailure { error, sent: false })?;
        conn.send_packed_command(&cmd.to_redis())
            .await
            .map(Reply::from_value)
            .map_err(|e| NodeFailure {
                error: ConnectionError::from_redis(&self.addr, &e, false).outcome_unknown(),
                sent: true,
            })
    }

    /// Whether a blocking caller's request `flight` shares the node's multiplexed connection
    /// (see [`CROWD`] and [`UNCROWDED`]).
    fn crowded_at(&self, flight: &InFlight<'_>) -> bool {
        let was = self.crowded.load(Ordering::Relaxed);
        let now = crowded(was, flight.ahead, flight.process_ahead);
        if now != was {
            self.crowded.store(now, Ordering::Relaxed);
        }
        now
    }

    /// Sends `parts` as one write; returns exactly one reply per part.
    pub(crate) async fn send(&self, parts: &[Part<'_>]) -> Result<Vec<Reply>, NodeFailure> {
        self.send_windowed(parts, usize::MAX).await
    }

    /// Sends `parts` with at most `window` of them in flight (sent, not yet answered) at any
    /// time; returns exactly one reply per part. On a thread's own connection more are written
    /// as replies come back; on a multiplexed one they go as pipelines of `window`, each after
    /// the one before has answered.
    pub(crate) async fn send_windowed(
        &self,
        parts: &[Part<'_>],
        window: usize,
    ) -> Result<Vec<Reply>, NodeFailure> {
        let flight = runtime::on_caller_thread().then(|| InFlight::enter(&self.blocking_in_flight));
        let own = flight.as_ref().is_some_and(|f| !self.crowded_at(f));
        let (number, link) = self
            .connection(own)
            .await
            .map_err(|error| NodeFailure { error, sent: false })?;
        let sent = match link {
            Link::Wire(wire) => {
                let mut wire = wire.lock().await;
                if wire.is_broken() {
                    // Another request on this thread gave up half-way through its exchange.
                    self.invalidate(number);
                    return Err(NodeFailure {
                        error: out_of_step(&self.addr),
                        sent: false,
                    });
                }
                wire.exchange_windowed(parts, window).await
            }
            Link::Mux(mut conn) => mux_send(&mut conn, parts, window)
                .await
                .map_err(|e| ConnectionError::from_redis(&self.addr, &e, false)),
        };
        match sent {
            Ok(replies) if replies.len() == parts.len() => Ok(replies),
            Ok(replies) => {
                self.invalidate(number);
                Err(NodeFailure {
                    error: ConnectionError::new(
                        &self.addr,
                        ConnectionErrorKind::Protocol,
                        format!("expected {} replies, got {}", parts.len(), replies.len()),
                    )
                    .outcome_unknown(),
                    sent: true,
                })
            }
            Err(error) => {
                // After a timeout or an I/O error the connection is not trusted again.
                self.invalidate(number);
                Err(NodeFailure {
                    error: error.outcome_unknown(),
                    sent: true,
                })
            }
        }
    }
}

/// Sends `parts` on a multiplexed connection (one command alone, several as pipelines of at
/// most `window`, one after the other).
async fn mux_send(
    conn: &mut MultiplexedConnection,
    parts: &[Part<'_>],
    window: usize,
) -> Result<Vec<Reply>, redis::RedisError> {
    if let [part] = parts {
        let value = conn.send_packed_command(&part.to_redis()).await?;
        return Ok(vec![Reply::from_value(value)]);
    }
    let mut replies = Vec::with_capacity(parts.len());
    for chunk in mux_chunks(parts, window) {
        let mut pipe = redis::Pipeline::with_capacity(chunk.len());
        for part in chunk {
            pipe.add_command(part.to_redis());
        }
        let values = conn.send_packed_commands(&pipe, 0, chunk.len()).await?;
        replies.extend(values.into_iter().map(Reply::from_value));
    }
    Ok(replies)
}

/// `parts` cut into pipelines of at most `window` (more only where a cut cannot be made).
/// Other callers' commands may come between two pipelines on a shared connection, so a cut
/// never parts `asking` from its command nor falls inside `multi` … `exec`.
fn mux_chunks<'p, 'a>(parts: &'p [Part<'a>], window: usize) -> Vec<&'p [Part<'a>]> {
    if parts.len() <= window {
        return vec![parts];
    }
    let mut chunks = Vec::with_capacity(parts.len() / window.max(1) + 1);
    let (mut start, mut in_multi) = (0, false);
    for (i, part) in parts.iter().enumerate() {
        match part {
            Part::Word("multi") => in_multi = true,
            Part::Word("exec") => in_multi = false,
            _ => {}
        }
        let may_cut = !in_multi && !matches!(part, Part::Word("asking"));
        if may_cut && i + 1 - start >= window {
            chunks.push(&parts[start..=i]);
            start = i + 1;
        }
    }
    if start < parts.len() {
        chunks.push(&parts[start..]);
    }
    chunks
}

impl Drop for NodeConn {
    /// Closes this thread's connection to the node now (other threads' go at their next
    /// connect, or when they end): a client that is gone should not hold server connections.
    fn drop(&mut self) {
        // The removed connection is dropped before `settle` lets its I/O task end.
        if with_caller_conns(|conns| conns.remove(&self.id))
            .flatten()
            .is_some()
        {
            runtime::settle();
        }
    }
}

/// Closes every connection of this thread's blocking calls (the next call opens new ones).
pub(crate) fn close_caller_connections() {
    let mine = with_caller_conns(std::mem::take);
    if mine.is_some_and(|conns| !conns.is_empty()) {
        runtime::settle();
    }
}

/// Runs `f` on this thread's connection map (emptied first in a forked child); `None` while
/// the thread is being torn down.
fn with_caller_conns<R>(f: impl FnOnce(&mut HashMap<u64, CallerConn>) -> R) -> Option<R> {
    let pid = runtime::pid();
    CALLER_CONNS
        .try_with(|cell| {
            let mut mine = cell.borrow_mut();
            if mine.0 != pid {
                // Inherited from the parent: their I/O belongs to the parent's runtime.
                std::mem::forget(std::mem::take(&mut mine.1));
                mine.0 = pid;
            }
            f(&mut mine.1)
        })
        .ok()
}

impl Spec {
    fn is_tls(&self) -> bool {
        matches!(self.info.addr(), ConnectionAddr::TcpTls { .. })
    }

    /// Whether a [`Wire`] can serve the node: plain TCP and RESP2 (TLS and Unix sockets stay
    /// on the `redis` crate's connection).
    fn wire_capable(&self) -> bool {
        matches!(self.info.addr(), ConnectionAddr::Tcp(..))
            && self.info.redis_settings().protocol() == ProtocolVersion::RESP2
    }

    /// A new [`Wire`], connected and set up (auth, database, name, `READONLY`) within the
    /// connect timeout.
    async fn open_wire(&self, response_timeout: Option<Duration>) -> Result<Wire, ConnectionError> {
        let settings = self.info.redis_settings();
        let setup = Setup {
            auth: settings.password().map(|p| (settings.username(), p)),
            db: settings.db(),
            client_name: self.client_name.as_deref(),
            readonly: self.readonly,
        };
        tokio::time::timeout(
            self.connect_timeout,
            Wire::open(&self.addr, &setup, response_timeout),
        )
        .await
        .map_err(|_| self.connect_timed_out())?
    }

    /// A new connection, opened within the connect timeout on the runtime this runs on.
    async fn open(
        &self,
        response_timeout: Option<Duration>,
        push: Option<PushSender>,
    ) -> Result<MultiplexedConnection, ConnectionError> {
        let opened =
            tokio::time::timeout(self.connect_timeout, self.open_with(response_timeout, push))
                .await
                .map_err(|_| self.connect_timed_out())
                .and_then(|r| r);
        match opened {
            Err(e) if self.is_tls() && e.kind != ConnectionErrorKind::Auth => {
                Err(self.explain_tls_failure(e).await)
            }
            other => other,
        }
    }

    /// A TLS connect that failed: when the port answers plain RESP, the server does not speak
    /// TLS there, and the error says so (a TLS handshake to a plain server otherwise just
    /// waits for the connect timeout).
    async fn explain_tls_failure(&self, e: ConnectionError) -> ConnectionError {
        let probe = async {
            let tcp =
                tokio::net::TcpStream::connect((self.addr.host.as_ref(), self.addr.port)).await?;
            let mut sent = 0;
            let ping = b"PING\r\n";
            while sent < ping.len() {
                tcp.writable().await?;
                match tcp.try_write(&ping[sent..]) {
                    Ok(n) => sent += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            let mut buf = [0u8; 64];
            loop {
                tcp.readable().await?;
                match tcp.try_read(&mut buf) {
                    Ok(n) => return Ok(buf[..n].to_vec()),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
        };
        let limit = self.connect_timeout.min(Duration::from_secs(1));
        match tokio::time::timeout(limit, probe).await {
            Ok(Ok(answer)) if matches!(answer.first(), Some(b'+' | b'-')) => ConnectionError::new(
                &self.addr,
                ConnectionErrorKind::Connect,
                "the server answers plain RESP on this port, not TLS: use redis:// instead of \
                 rediss:// (or enable TLS on the server)"
                    .into(),
            ),
            _ => e,
        }
    }

    async fn open_monitor(&self) -> Result<redis::aio::Monitor, ConnectionError> {
        let open = async {
            let client = redis::Client::open(self.info.clone())
                .map_err(|e| ConnectionError::from_redis(&self.addr, &e, true))?;
            client
                .get_async_monitor()
                .await
                .map_err(|e| ConnectionError::from_redis(&self.addr, &e, true))
        };
        tokio::time::timeout(self.connect_timeout, open)
            .await
            .map_err(|_| self.connect_timed_out())?
    }

    fn connect_timed_out(&self) -> ConnectionError {
        ConnectionError::new(
            &self.addr,
            ConnectionErrorKind::Timeout,
            format!("connect timed out after {:?}", self.connect_timeout),
        )
    }

    async fn open_with(
        &self,
        response_timeout: Option<Duration>,
        push: Option<PushSender>,
    ) -> Result<MultiplexedConnection, ConnectionError> {
        let mut info = self.info.clone();
        let mut config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(response_timeout);
        if let Some(push) = push {
            let resp3 = info
                .redis_settings()
                .clone()
                .set_protocol(ProtocolVersion::RESP3);
            info = info.set_redis_settings(resp3);
            config = config.set_push_sender(push);
        }
        let client = redis::Client::open(info)
            .map_err(|e| ConnectionError::from_redis(&self.addr, &e, true))?;
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| ConnectionError::from_redis(&self.addr, &e, true))?;
        if let Some(name) = &self.client_name {
            let mut setname = redis::cmd("client");
            setname.arg("setname").arg(name);
            self.handshake(&mut conn, &setname, "CLIENT SETNAME")
                .await?;
        }
        if self.readonly {
            self.handshake(&mut conn, &redis::cmd("READONLY"), "READONLY")
                .await?;
        }
        Ok(conn)
    }

    /// One command of the connection's set-up; an error reply fails the connect.
    async fn handshake(
        &self,
        conn: &mut MultiplexedConnection,
        cmd: &redis::Cmd,
        what: &str,
    ) -> Result<(), ConnectionError> {
        let reply: redis::Value = conn
            .send_packed_command(cmd)
            .await
            .map_err(|e| ConnectionError::from_redis(&self.addr, &e, true))?;
        if let redis::Value::ServerError(e) = reply {
            return Err(ConnectionError::new(
                &self.addr,
                ConnectionErrorKind::Protocol,
                format!(
                    "{what} refused: {}",
                    crate::reply::ServerError::from_redis(&e)
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lens(chunks: &[&[Part<'_>]]) -> Vec<usize> {
        chunks.iter().map(|c| c.len()).collect()
    }

    #[test]
    fn shared_connection_pipelines_hold_the_window_and_never_cut_a_unit() {
        let get = Cmd::from_args(["GET", "k"]);
        let plain = vec![Part::Cmd(&get); 7];
        assert_eq!(lens(&mux_chunks(&plain, 3)), [3, 3, 1]);
        assert_eq!(lens(&mux_chunks(&plain, 7)), [7]);
        assert_eq!(lens(&mux_chunks(&plain, 0)), [1; 7]);
        // `asking` stays with its command; `multi` … `exec` stays whole.
        let units = [
            Part::Cmd(&get),
            Part::Word("asking"),
            Part::Cmd(&get),
            Part::Word("multi"),
            Part::Cmd(&get),
            Part::Cmd(&get),
            Part::Word("exec"),
            Part::Cmd(&get),
        ];
        assert_eq!(lens(&mux_chunks(&units, 1)), [1, 2, 4, 1]);
        assert_eq!(lens(&mux_chunks(&units, 2)), [3, 4, 1]);
    }

    #[test]
    fn a_node_stays_crowded_from_crowd_until_fewer_than_uncrowded_are_in_flight() {
        // A process with fewer than CROWD requests in flight to its other nodes.
        let quiet = CROWD - 1;
        // Not crowded: up to CROWD - 1 ahead keeps the callers on their own connections.
        let mut state = false;
        for ahead in 0..CROWD {
            state = crowded(state, ahead, quiet);
            assert!(!state, "{ahead} ahead");
        }
        state = crowded(state, CROWD, quiet);
        assert!(state);
        // Crowded: it stays so while UNCROWDED or more are ahead, however they vary.
        for ahead in [CROWD - 1, UNCROWDED, CROWD * 4, UNCROWDED + 1] {
            state = crowded(state, ahead, quiet);
            assert!(state, "{ahead} ahead");
        }
        state = crowded(state, UNCROWDED - 1, quiet);
        assert!(!state);
        assert!(!crowded(state, UNCROWDED, quiet));
    }

    #[test]
    fn a_request_counts_those_in_flight_to_every_node_of_the_process() {
        let (a, b) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let first = InFlight::enter(&a);
        let second = InFlight::enter(&b);
        assert_eq!((first.ahead, second.ahead), (0, 0));
        // `first` is in flight to the other node all along.
        assert!(second.process_ahead >= 1, "{}", second.process_ahead);
        drop((first, second));
        assert_eq!((a.into_inner(), b.into_inner()), (0, 0));
    }

    #[test]
    fn a_crowded_node_stays_crowded_while_the_process_is_busy() {
        let busy = CROWD;
        // Busy elsewhere: a node nobody crowded stays as it is.
        assert!(!crowded(false, 0, busy * 8));
        assert!(!crowded(false, CROWD - 1, busy * 8));
        // A crowded node of a busy process stays crowded with none ahead of the request (a
        // dual write's callers waiting on the other store).
        assert!(crowded(true, 0, busy));
        assert!(crowded(true, UNCROWDED - 1, busy * 8));
        // Once the process is quiet it lets go.
        assert!(!crowded(true, UNCROWDED - 1, busy - 1));
    }
}
