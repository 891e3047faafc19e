//! One node's connection: a `redis` multiplexed connection, opened lazily (one connect at a
//! time per node), dropped after an I/O error or a timeout so the next request opens a fresh one.
//!
//! Multiplexing keeps replies in request order per connection: a caller that gives up on a
//! request (timeout, dropped future) leaves its reply to be read and discarded, never handed
//! to another caller.

use std::time::Duration;

use parking_lot::Mutex;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, ProtocolVersion, PushInfo};

use crate::net::{ConnectionError, ConnectionErrorKind, NetOptions, NodeAddr};

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
    info: ConnectionInfo,
    /// Send `READONLY` after connecting (reads from a cluster replica).
    readonly: bool,
    /// `CLIENT SETNAME` after connecting.
    client_name: Option<String>,
    state: Mutex<(u64, Option<MultiplexedConnection>)>,
    gate: tokio::sync::Mutex<()>,
    connect_timeout: Duration,
    response_timeout: Duration,
}

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
        NodeConn {
            addr: addr_of(&info),
            info,
            readonly,
            client_name: opts.client_name.clone(),
            state: Mutex::new((0, None)),
            gate: tokio::sync::Mutex::new(()),
            connect_timeout: opts.connect_timeout,
            response_timeout: opts.response_timeout,
        }
    }

    pub(crate) fn is_tls(&self) -> bool {
        matches!(self.info.addr(), ConnectionAddr::TcpTls { .. })
    }

    fn current(&self) -> Option<(u64, MultiplexedConnection)> {
        let state = self.state.lock();
        state.1.clone().map(|c| (state.0, c))
    }

    /// The open connection, or a new one.
    pub(crate) async fn connection(&self) -> Result<(u64, MultiplexedConnection), ConnectionError> {
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let _gate = self.gate.lock().await;
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let conn = self
            .open_dedicated(Some(self.response_timeout), None)
            .await?;
        let mut state = self.state.lock();
        state.0 += 1;
        state.1 = Some(conn.clone());
        Ok((state.0, conn))
    }

    /// A new connection opened within the connect timeout, with `response_timeout` on its
    /// replies (`None`: the caller times each request): the shared one ([`Self::connection`])
    /// or one of the caller's own. With `push`, it speaks RESP3 and every push frame (pub/sub
    /// messages and subscription confirmations) goes to `push`; a lost connection sends a
    /// `Disconnection` push.
    pub(crate) async fn open_dedicated(
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

    /// A connection of the caller's own that runs `MONITOR` (set up as the node's others:
    /// auth, database, TLS), opened within the connect timeout; yields the server's command
    /// log, one line per command.
    pub(crate) async fn open_monitor(&self) -> Result<redis::aio::Monitor, ConnectionError> {
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

    /// Says QUIT on the shared connection if one is open (waiting at most the response
    /// timeout for the server's OK), then forgets it: the next request opens a new one.
    pub(crate) async fn quit(&self) {
        if let Some((generation, mut conn)) = self.current() {
            let quit = redis::cmd("quit");
            let _ =
                tokio::time::timeout(self.response_timeout, conn.send_packed_command(&quit)).await;
            self.invalidate(generation);
        }
    }

    /// Forget connection `generation` (after it failed), so the next request reconnects.
    pub(crate) fn invalidate(&self, generation: u64) {
        let mut state = self.state.lock();
        if state.0 == generation {
            state.1 = None;
        }
    }

    /// Sends one command.
    pub(crate) async fn send_one(&self, cmd: &redis::Cmd) -> Result<redis::Value, NodeFailure> {
        let (generation, mut conn) = self
            .connection()
            .await
            .map_err(|error| NodeFailure { error, sent: false })?;
        match conn.send_packed_command(cmd).await {
            Ok(v) => Ok(v),
            Err(e) => Err(self.failed(generation, &e)),
        }
    }

    /// Sends one command that may block the connection for `wait` (`None`: for ever) on a
    /// connection of its own — a blocked command holds its connection, so it must not be the
    /// shared one — with a reply timeout of `wait` plus the usual response timeout.
    pub(crate) async fn send_blocking(
        &self,
        cmd: &redis::Cmd,
        wait: Option<Duration>,
    ) -> Result<redis::Value, NodeFailure> {
        let timeout = wait.map(|w| w + self.response_timeout);
        let mut conn = self
            .open_dedicated(timeout, None)
            .await
            .map_err(|error| NodeFailure { error, sent: false })?;
        conn.send_packed_command(cmd)
            .await
            .map_err(|e| NodeFailure {
                error: ConnectionError::from_redis(&self.addr, &e, false).outcome_unknown(),
                sent: true,
            })
    }

    /// Sends a pipeline of `count` commands as one write; returns exactly `count` replies.
    pub(crate) async fn send_pipeline(
        &self,
        pipe: &redis::Pipeline,
        count: usize,
    ) -> Result<Vec<redis::Value>, NodeFailure> {
        let (generation, mut conn) = self
            .connection()
            .await
            .map_err(|error| NodeFailure { error, sent: false })?;
        match conn.send_packed_commands(pipe, 0, count).await {
            Ok(values) if values.len() == count => Ok(values),
            Ok(values) => {
                self.invalidate(generation);
                Err(NodeFailure {
                    error: ConnectionError::new(
                        &self.addr,
                        ConnectionErrorKind::Protocol,
                        format!("expected {count} replies, got {}", values.len()),
                    )
                    .outcome_unknown(),
                    sent: true,
                })
            }
            Err(e) => Err(self.failed(generation, &e)),
        }
    }

    fn failed(&self, generation: u64, e: &redis::RedisError) -> NodeFailure {
        // After a timeout or an I/O error the connection is not trusted again.
        self.invalidate(generation);
        NodeFailure {
            error: ConnectionError::from_redis(&self.addr, e, false).outcome_unknown(),
            sent: true,
        }
    }
}
