//! A connection of slotshift's own, for the blocking callers' threads: commands written as
//! RESP straight from [`Cmd`]s into one buffer, replies read straight into [`Reply`]s
//! ([`super::resp`]), all on the calling thread — no intermediate `redis::Cmd` or
//! `redis::Value`, no channel to an I/O task, no second thread woken.
//!
//! It serves one exchange at a time (the caller thread's futures take turns through a lock)
//! and is used only where it can be: plain TCP, RESP2, a thread's own connections
//! ([`super::node`] decides). Shared connections, TLS, Unix sockets, RESP3 push connections
//! and `MONITOR` stay on the `redis` crate's multiplexed connection.
//!
//! An exchange abandoned half-way (its future dropped, a timeout, an I/O error) leaves the
//! connection out of step with the server: it is marked broken and never used again.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::command::Cmd;
use crate::net::resp::{Decoder, NotResp};
use crate::net::{ConnectionError, ConnectionErrorKind, NodeAddr};
use crate::reply::Reply;

/// One command of a batch: the caller's, or a word the transport adds around them
/// (`asking`, `multi`, `exec`, `quit`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Part<'a> {
    /// A command as the caller built it.
    Cmd(&'a Cmd),
    /// A one-word command. The words are lowercase, as redis-rb and redis-py send every
    /// command name: servers ignore the case, and a scripted server written for those clients
    /// (redis-rb's own suite matches `multi`/`exec`) sees what it expects.
    Word(&'static str),
}

impl Part<'_> {
    /// Appends the command's RESP encoding to `out`.
    pub(crate) fn write_resp(&self, out: &mut Vec<u8>) {
        match self {
            Part::Cmd(cmd) => cmd.write_resp(out),
            Part::Word(word) => {
                out.extend_from_slice(b"*1\r\n$");
                out.extend_from_slice(itoa::Buffer::new().format(word.len()).as_bytes());
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(word.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
    }

    /// The command in the `redis` crate's form.
    pub(crate) fn to_redis(self) -> redis::Cmd {
        match self {
            Part::Cmd(cmd) => cmd.to_redis(),
            Part::Word(word) => redis::cmd(word),
        }
    }
}

/// What a connection's set-up sends after connecting, in this order (names in lowercase, as
/// redis-rb and redis-py send them).
pub(crate) struct Setup<'a> {
    /// `AUTH [username] password`.
    pub(crate) auth: Option<(Option<&'a str>, &'a str)>,
    /// `SELECT db` (0: none).
    pub(crate) db: i64,
    /// `CLIENT SETNAME`.
    pub(crate) client_name: Option<&'a str>,
    /// `READONLY` (reads from a cluster replica).
    pub(crate) readonly: bool,
}

/// The smallest free room a read is given in the inbox.
const READ_ROOM: usize = 16 * 1024;

/// A connection of this process's own (see the module documentation).
pub(crate) struct Wire {
    addr: NodeAddr,
    stream: TcpStream,
    /// Bytes read and not yet decoded: `inbox[start..filled]`.
    inbox: Vec<u8>,
    /// What was read of a reply whose last bytes have not come yet.
    decoder: Decoder,
    start: usize,
    filled: usize,
    /// The encoded commands of the exchange being sent (kept to reuse its allocation).
    outbox: Vec<u8>,
    /// Where each command's bytes end in `outbox`, for a windowed exchange (likewise kept).
    ends: Vec<usize>,
    response_timeout: Option<Duration>,
    /// Set while an exchange is under way, and left set when one did not finish.
    broken: bool,
}

impl Wire {
    /// Connects to `addr` and runs `setup` (the caller bounds the whole with its connect
    /// timeout). A refused `AUTH` is an [`ConnectionErrorKind::Auth`] error.
    pub(crate) async fn open(
        addr: &NodeAddr,
        setup: &Setup<'_>,
        response_timeout: Option<Duration>,
    ) -> Result<Wire, ConnectionError> {
        let connect_error = |e: std::io::Error| {
            ConnectionError::new(addr, ConnectionErrorKind::Connect, e.to_string())
        };
        let stream = TcpStream::connect((addr.host.as_ref(), addr.port))
            .await
            .map_err(connect_error)?;
        stream.set_nodelay(true).map_err(connect_error)?;
        let mut wire = Wire {
            addr: addr.clone(),
            stream,
            inbox: Vec::new(),
            decoder: Decoder::default(),
            start: 0,
            filled: 0,
            outbox: Vec::new(),
            ends: Vec::new(),
            response_timeout,
            broken: false,
        };
        wire.set_up(setup).await?;
        Ok(wire)
    }

    async fn set_up(&mut self, setup: &Setup<'_>) -> Result<(), ConnectionError> {
        let mut cmds: Vec<(Cmd, &str)> = Vec::new();
        if let Some((user, password)) = setup.auth {
            let mut auth = Cmd::new("auth");
            if let Some(user) = user {
                auth.arg(user);
            }
            auth.arg(password);
            cmds.push((auth, "AUTH"));
        }
        if setup.db != 0 {
            let mut select = Cmd::new("select");
            select.arg(itoa::Buffer::new().format(setup.db));
            cmds.push((select, "SELECT"));
        }
        if let Some(name) = setup.client_name {
            cmds.push((
                Cmd::from_args(["client", "setname", name]),
                "CLIENT SETNAME",
            ));
        }
        if setup.readonly {
            cmds.push((Cmd::new("readonly"), "READONLY"));
        }
        if cmds.is_empty() {
            return Ok(());
        }
        let parts: Vec<Part<'_>> = cmds.iter().map(|(c, _)| Part::Cmd(c)).collect();
        let replies = self.exchange(&parts).await.map_err(|mut e| {
            e.kind = match e.kind {
                ConnectionErrorKind::Io => ConnectionErrorKind::Connect,
                other => other,
            };
            e
        })?;
        for ((_, what), reply) in cmds.iter().zip(replies) {
            if let Reply::Error(e) = reply {
                let auth = *what == "AUTH" || matches!(e.code(), "WRONGPASS" | "NOAUTH" | "NOPERM");
                let kind = if auth {
                    ConnectionErrorKind::Auth
                } else {
                    ConnectionErrorKind::Protocol
                };
                return Err(ConnectionError::new(
                    &self.addr,
                    kind,
                    format!("{what} refused: {e}"),
                ));
            }
        }
        Ok(())
    }

    /// Whether an earlier exchange was left unfinished (the connection is out of step).
    pub(crate) fn is_broken(&self) -> bool {
        self.broken
    }

    /// Sends `parts` and reads exactly one reply per part, within the response timeout. Any
    /// failure leaves the connection broken.
    pub(crate) async fn exchange(
        &mut self,
        parts: &[Part<'_>],
    ) -> Result<Vec<Reply>, ConnectionError> {
        self.exchange_windowed(parts, usize::MAX).await
    }

    /// [`Self::exchange`] with at most `window` commands in flight: sent and not yet answered.
    /// As replies come back, more commands are written, so the server always has the next ones
    /// while the bound holds (a batch limit kept without a pause between batches).
    pub(crate) async fn exchange_windowed(
        &mut self,
        parts: &[Part<'_>],
        window: usize,
    ) -> Result<Vec<Reply>, ConnectionError> {
        if self.broken {
            return Err(out_of_step(&self.addr));
        }
        self.broken = true;
        let mut outbox = std::mem::take(&mut self.outbox);
        let mut ends = std::mem::take(&mut self.ends);
        outbox.clear();
        ends.clear();
        let window = window.max(1);
        let windowed = window < parts.len();
        for part in parts {
            part.write_resp(&mut outbox);
            if windowed {
                ends.push(outbox.len());
            }
        }
        let result = self
            .send_and_read(&outbox, &ends, parts.len(), window)
            .await;
        self.outbox = outbox;
        self.ends = ends;
        if result.is_ok() {
            self.broken = false;
        }
        result
    }

    /// Writes `out` while reading `count` replies (a large pipeline's replies start coming
    /// back before its last command is written). With `ends` (where each command's bytes end
    /// in `out`), no more than `window` commands are ever in flight.
    ///
    /// The response timeout bounds the whole exchange, or with a window each window's worth
    /// of replies (the time a batch of that size would have had): a long pipeline that keeps
    /// answering is not cut off, a server that stops answering is.
    async fn send_and_read(
        &mut self,
        out: &[u8],
        ends: &[usize],
        count: usize,
        window: usize,
    ) -> Result<Vec<Reply>, ConnectionError> {
        let Wire {
            addr,
            stream,
            inbox,
            decoder,
            start,
            filled,
            response_timeout,
            ..
        } = self;
        let timeout = *response_timeout;
        let renewed = || timeout.map(|t| tokio::time::Instant::now() + t);
        let mut deadline = renewed();
        // The number of replies at which the deadline is renewed (never without a window).
        let mut renew_at = if ends.is_empty() { usize::MAX } else { window };
        let (mut reader, mut writer) = stream.split();
        let io_error =
            |e: std::io::Error| ConnectionError::new(addr, ConnectionErrorKind::Io, e.to_string());
        let mut replies = Vec::with_capacity(count);
        let mut written = 0;
        loop {
            while replies.len() < count {
                let (used, reply) = decoder
                    .feed(&inbox[*start..*filled])
                    .map_err(|e| not_resp(addr, &e))?;
                *start += used;
                match reply {
                    Some(reply) => replies.push(reply),
                    None => break,
                }
            }
            if replies.len() == count {
                break;
            }
            if replies.len() >= renew_at {
                deadline = renewed();
                renew_at = replies.len().saturating_add(window);
            }
            // The bytes that may be out now: every command, or those up to the window's end.
            let allowed = if ends.is_empty() {
                out.len()
            } else {
                ends[(replies.len() + window).min(count) - 1]
            };
            make_room(inbox, start, filled);
            let room = &mut inbox[*filled..];
            let io = async {
                if written < allowed {
                    tokio::select! {
                        biased;
                        w = writer.write(&out[written..allowed]) => Step::Wrote(w),
                        r = reader.read(room) => Step::Read(r),
                    }
                } else {
                    Step::Read(reader.read(room).await)
                }
            };
            let step = match deadline {
                Some(at) => tokio::time::timeout_at(at, io).await.map_err(|_| {
                    ConnectionError::new(
                        addr,
                        ConnectionErrorKind::Timeout,
                        "no reply within the response timeout".into(),
                    )
                })?,
                None => io.await,
            };
            let gone = |why: &str| ConnectionError::new(addr, ConnectionErrorKind::Io, why.into());
            match step {
                Step::Wrote(w) => match w.map_err(io_error)? {
                    0 => return Err(gone("the server stopped taking bytes")),
                    n => written += n,
                },
                Step::Read(r) => match r.map_err(io_error)? {
                    0 => return Err(gone("the server closed the connection")),
                    n => *filled += n,
                },
            }
        }
        if written < out.len() {
            // Every reply came before every command was written: the server answered what it
            // was not sent (a stray reply), so the connection cannot be trusted.
            return Err(out_of_step(addr));
        }
        if *start == *filled {
            (*start, *filled) = (0, 0);
        }
        Ok(replies)
    }
}

/// What one turn of an exchange did.
enum Step {
    Wrote(std::io::Result<usize>),
    Read(std::io::Result<usize>),
}

/// Makes at least [`READ_ROOM`] bytes free after `filled`: moves the undecoded bytes to the
/// front when that frees enough, else grows the inbox.
fn make_room(inbox: &mut Vec<u8>, start: &mut usize, filled: &mut usize) {
    if inbox.len() - *filled >= READ_ROOM {
        return;
    }
    if *start > 0 {
        inbox.copy_within(*start..*filled, 0);
        *filled -= *start;
        *start = 0;
    }
    if inbox.len() - *filled < READ_ROOM {
        let grown = (inbox.len() * 2).max(*filled + READ_ROOM);
        inbox.resize(grown, 0);
    }
}

/// The error of a request refused, before anything was written, on a connection an earlier
/// exchange left in the middle of a reply.
pub(crate) fn out_of_step(addr: &NodeAddr) -> ConnectionError {
    ConnectionError::new(
        addr,
        ConnectionErrorKind::Io,
        "the connection was left in the middle of an earlier reply".into(),
    )
}

fn not_resp(addr: &NodeAddr, e: &NotResp) -> ConnectionError {
    ConnectionError::new(
        addr,
        ConnectionErrorKind::Protocol,
        format!("the server sent bytes that are not RESP: {e}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_commands_encode_as_resp_arrays() {
        let mut out = Vec::new();
        Part::Word("multi").write_resp(&mut out);
        Part::Cmd(&Cmd::from_args(["GET", "k"])).write_resp(&mut out);
        assert_eq!(out, b"*1\r\n$5\r\nmulti\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    }

    /// A peer that holds its replies back until nothing more arrives for a while, then notes
    /// how many commands were waiting for an answer and answers them all (each with its index).
    /// A real server answers as fast as it can, so it cannot show how many commands the client
    /// keeps in flight.
    fn withholding_peer(
        listener: std::net::TcpListener,
        quiet: Duration,
    ) -> std::thread::JoinHandle<Vec<usize>> {
        use std::io::{Read, Write};
        std::thread::spawn(move || {
            let (mut sock, _) = listener.accept().unwrap();
            sock.set_read_timeout(Some(quiet)).unwrap();
            let (mut received, mut answered, mut seen) = (Vec::new(), 0, Vec::new());
            let mut buf = [0u8; 4096];
            loop {
                match sock.read(&mut buf) {
                    Ok(0) => return seen,
                    Ok(n) => received.extend_from_slice(&buf[..n]),
                    Err(_) => {
                        // Quiet: every command the client was willing to send is here.
                        let commands = received.windows(4).filter(|w| w == b"*2\r\n").count();
                        if commands == answered {
                            return seen;
                        }
                        seen.push(commands - answered);
                        for i in answered..commands {
                            sock.write_all(format!(":{i}\r\n").as_bytes()).unwrap();
                        }
                        answered = commands;
                    }
                }
            }
        })
    }

    /// `count` GETs through an exchange with `window`; the peer's observations and the replies.
    fn exchange_with_window(count: usize, window: usize) -> (Vec<usize>, Vec<Reply>) {
        let quiet = Duration::from_millis(150);
        let (seen, replies) = exchange_timed(count, window, quiet, Duration::from_secs(10));
        (seen, replies.unwrap())
    }

    /// [`exchange_with_window`] with a response timeout.
    fn exchange_timed(
        count: usize,
        window: usize,
        quiet: Duration,
        timeout: Duration,
    ) -> (Vec<usize>, Result<Vec<Reply>, ConnectionError>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let peer = withholding_peer(listener, quiet);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let cmds: Vec<Cmd> = (0..count)
            .map(|i| Cmd::from_args(["GET", &format!("k{i}")]))
            .collect();
        let parts: Vec<Part<'_>> = cmds.iter().map(Part::Cmd).collect();
        let replies = rt.block_on(async {
            let setup = Setup {
                auth: None,
                db: 0,
                client_name: None,
                readonly: false,
            };
            let addr = NodeAddr::new("127.0.0.1", port);
            let mut wire = Wire::open(&addr, &setup, Some(timeout)).await.unwrap();
            wire.exchange_windowed(&parts, window).await
        });
        (peer.join().unwrap(), replies)
    }

    #[test]
    fn a_window_bounds_the_commands_in_flight_and_keeps_it_full() {
        let (seen, replies) = exchange_with_window(12, 4);
        assert_eq!(
            seen,
            vec![4, 4, 4],
            "commands waiting at each of the peer's pauses"
        );
        let want: Vec<Reply> = (0..12).map(Reply::Int).collect();
        assert_eq!(replies, want);
    }

    #[test]
    fn the_response_timeout_bounds_each_window_not_the_whole_pipeline() {
        // The peer answers each window of 2 after a 150 ms pause: 12 windows, 1.8 s in all,
        // longer than the 1 s timeout, each window well within it.
        let quiet = Duration::from_millis(150);
        let (seen, replies) = exchange_timed(24, 2, quiet, Duration::from_secs(1));
        assert_eq!(seen, vec![2; 12]);
        assert_eq!(replies.map(|r| r.len()).ok(), Some(24));
        // Without a window the timeout bounds the whole exchange: a peer that pauses 300 ms
        // before answering anything is cut off at 100 ms.
        let quiet = Duration::from_millis(300);
        let (_, replies) = exchange_timed(12, usize::MAX, quiet, Duration::from_millis(100));
        let e = replies.unwrap_err();
        assert_eq!(e.kind, ConnectionErrorKind::Timeout, "{e}");
    }

    #[test]
    fn without_a_window_every_command_goes_at_once() {
        let (seen, replies) = exchange_with_window(12, usize::MAX);
        assert_eq!(seen, vec![12]);
        assert_eq!(replies.len(), 12);
    }

    #[test]
    fn room_is_made_by_moving_then_by_growing() {
        let mut inbox = vec![0u8; READ_ROOM * 2];
        let (mut start, mut filled) = (READ_ROOM + 10, READ_ROOM + 20);
        inbox[start..filled].copy_from_slice(b"0123456789");
        make_room(&mut inbox, &mut start, &mut filled);
        assert_eq!((start, filled, inbox.len()), (0, 10, READ_ROOM * 2));
        assert_eq!(&inbox[..10], b"0123456789");
        let mut full = vec![1u8; READ_ROOM];
        let (mut s, mut f) = (0, READ_ROOM);
        make_room(&mut full, &mut s, &mut f);
        assert!(full.len() - f >= READ_ROOM);
    }
}
