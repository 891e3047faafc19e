//! A scripted fake Redis node on 127.0.0.1 (a port the system picks) for what a real server
//! never sends: malformed RESP, circular or unknown redirects, huge lengths, replies that stop
//! halfway or never come. Each request (a RESP array of bulk strings) is handed to a script
//! that says what to answer; [`Hostility`] names the behaviours every suite (Rust, and through
//! `slotshift servers up --hostile` C, Ruby and Python) tries its clients against.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::EmbeddedError;

/// What the fake node does with one request.
#[derive(Debug, Clone)]
pub enum Action {
    /// Write these bytes (raw RESP, possibly malformed).
    Reply(Vec<u8>),
    /// Read on, never answer.
    Hang,
    /// Close the connection.
    Close,
    /// Write these bytes, then close the connection.
    Last(Vec<u8>),
    /// Write these bytes one at a time, this long apart (a slowloris peer).
    Drip(Vec<u8>, Duration),
}

impl Action {
    /// [`Action::Reply`] of `s`'s bytes.
    pub fn raw(s: &str) -> Action {
        Action::Reply(s.as_bytes().to_vec())
    }
}

type Script = dyn Fn(u16, &[Vec<u8>]) -> Option<Action> + Send + Sync;

/// A running fake node; dropping it stops it.
pub struct FakeNode {
    port: u16,
    stop: Arc<AtomicBool>,
    /// Requests answered so far (the handshake's included).
    pub requests: Arc<AtomicUsize>,
}

impl FakeNode {
    /// Starts a node; `script(port, args)` decides each answer. `None` means the default:
    /// `+OK` for the handshake (CLIENT, SELECT, HELLO, PING, READONLY), an error otherwise.
    pub fn start(
        script: impl Fn(u16, &[Vec<u8>]) -> Option<Action> + Send + Sync + 'static,
    ) -> Result<FakeNode, EmbeddedError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| EmbeddedError::io("bind a fake node on 127.0.0.1", e))?;
        let port = listener
            .local_addr()
            .map_err(|e| EmbeddedError::io("read the fake node's port", e))?
            .port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let script: Arc<Script> = Arc::new(script);
        {
            let stop = stop.clone();
            let requests = requests.clone();
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let script = script.clone();
                    let stop = stop.clone();
                    let requests = requests.clone();
                    thread::spawn(move || serve(stream, port, &*script, &stop, &requests));
                }
            });
        }
        Ok(FakeNode {
            port,
            stop,
            requests,
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Vec<Vec<u8>>> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let n: usize = line.trim_end().strip_prefix('*')?.parse().ok()?;
    let mut args = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let len: usize = line.trim_end().strip_prefix('$')?.parse().ok()?;
        let mut buf = vec![0; len + 2];
        reader.read_exact(&mut buf).ok()?;
        buf.truncate(len);
        args.push(buf);
    }
    Some(args)
}

fn serve(stream: TcpStream, port: u16, script: &Script, stop: &AtomicBool, requests: &AtomicUsize) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    let mut hanging = false;
    while !stop.load(Ordering::SeqCst) {
        let Some(args) = read_request(&mut reader) else {
            // Timeout (keep waiting) or EOF.
            if reader.get_ref().peer_addr().is_err() {
                return;
            }
            let mut probe = [0u8; 1];
            match reader.get_ref().peek(&mut probe) {
                Ok(0) => return,
                _ => continue,
            }
        };
        if hanging {
            continue;
        }
        requests.fetch_add(1, Ordering::SeqCst);
        let name = args
            .first()
            .map(|a| String::from_utf8_lossy(a).to_ascii_uppercase())
            .unwrap_or_default();
        let action = script(port, &args).unwrap_or_else(|| {
            if matches!(
                name.as_str(),
                "CLIENT" | "SELECT" | "PING" | "HELLO" | "READONLY"
            ) {
                Action::raw("+OK\r\n")
            } else {
                Action::raw("-ERR unknown command\r\n")
            }
        });
        match action {
            Action::Reply(bytes) => {
                if writer.write_all(&bytes).is_err() {
                    return;
                }
            }
            Action::Hang => hanging = true,
            Action::Close => return,
            Action::Last(bytes) => {
                let _ = writer.write_all(&bytes);
                return;
            }
            Action::Drip(bytes, every) => {
                for b in bytes {
                    if stop.load(Ordering::SeqCst) || writer.write_all(&[b]).is_err() {
                        return;
                    }
                    thread::sleep(every);
                }
            }
        }
    }
}

/// A `CLUSTER SHARDS` reply: one shard owning every slot, served by 127.0.0.1:`port`.
pub fn shards_all_slots(port: u16) -> Vec<u8> {
    shards(&[(0, 16383, port)])
}

/// A `CLUSTER SHARDS` reply: one shard per `(first slot, last slot, port)`, each one master on
/// 127.0.0.1.
pub fn shards(list: &[(u16, u16, u16)]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", list.len());
    for (i, (first, last, port)) in list.iter().enumerate() {
        out += &format!(
            "*4\r\n$5\r\nslots\r\n*2\r\n:{first}\r\n:{last}\r\n$5\r\nnodes\r\n*1\r\n*12\r\n\
             $2\r\nid\r\n$3\r\nab{i}\r\n$4\r\nport\r\n:{port}\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n\
             $8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$6\r\nhealth\r\n$6\r\nonline\r\n"
        );
    }
    out.into_bytes()
}

/// The hostile behaviours every client is tried against: each a fake node that answers the
/// connection handshake as a server does, then answers every other command in its way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Hostility {
    /// Bytes that are not RESP.
    Garbage,
    /// A bulk string claiming 999,999,999,999 bytes, then nothing.
    HugeBulk,
    /// An array nested 100,000 deep.
    DeepNesting,
    /// Half a reply, then the connection closes.
    MidReplyClose,
    /// Reads every request and never answers.
    NeverReply,
    /// A reply one byte every 200 ms (longer than any sane reply timeout).
    Slowloris,
    /// A cluster node that redirects every key to itself.
    MovedLoop,
    /// A cluster node that redirects every key to a node the cluster does not list.
    MovedToUnknown,
    /// An error reply with no text (`-` alone).
    EmptyError,
}

impl Hostility {
    /// Every behaviour.
    pub const ALL: [Hostility; 9] = [
        Hostility::Garbage,
        Hostility::HugeBulk,
        Hostility::DeepNesting,
        Hostility::MidReplyClose,
        Hostility::NeverReply,
        Hostility::Slowloris,
        Hostility::MovedLoop,
        Hostility::MovedToUnknown,
        Hostility::EmptyError,
    ];

    /// The behaviour's name in `slotshift servers up --hostile --json` (`huge_bulk` …).
    pub fn name(self) -> &'static str {
        match self {
            Hostility::Garbage => "garbage",
            Hostility::HugeBulk => "huge_bulk",
            Hostility::DeepNesting => "deep_nesting",
            Hostility::MidReplyClose => "mid_reply_close",
            Hostility::NeverReply => "never_reply",
            Hostility::Slowloris => "slowloris",
            Hostility::MovedLoop => "moved_loop",
            Hostility::MovedToUnknown => "moved_to_unknown",
            Hostility::EmptyError => "empty_error",
        }
    }

    fn cluster(self) -> bool {
        matches!(self, Hostility::MovedLoop | Hostility::MovedToUnknown)
    }

    /// The answer to a command that is not part of the handshake.
    fn answer(self, port: u16) -> Action {
        match self {
            Hostility::Garbage => Action::raw("!not resp at all\r\n"),
            Hostility::HugeBulk => Action::raw("$999999999999\r\nhello"),
            Hostility::DeepNesting => {
                let mut reply = "*1\r\n".repeat(100_000);
                reply.push_str(":1\r\n");
                Action::Reply(reply.into_bytes())
            }
            Hostility::MidReplyClose => Action::Last(b"*2\r\n:1\r\n".to_vec()),
            Hostility::NeverReply => Action::Hang,
            Hostility::Slowloris => Action::Drip(b"+OK\r\n".to_vec(), Duration::from_millis(200)),
            Hostility::MovedLoop => {
                Action::Reply(format!("-MOVED 7 127.0.0.1:{port}\r\n").into_bytes())
            }
            Hostility::MovedToUnknown => Action::raw("-MOVED 7 127.0.0.1:1\r\n"),
            Hostility::EmptyError => Action::raw("-\r\n"),
        }
    }

    /// Starts a fake node with this behaviour.
    pub fn start(self) -> Result<FakeNode, EmbeddedError> {
        FakeNode::start(move |port, args| {
            let name = String::from_utf8_lossy(args.first()?).to_ascii_uppercase();
            match name.as_str() {
                "CLIENT" | "SELECT" | "PING" | "READONLY" | "AUTH" => Some(Action::raw("+OK\r\n")),
                "CLUSTER" if self.cluster() => Some(Action::Reply(shards_all_slots(port))),
                "CLUSTER" => Some(Action::raw(
                    "-ERR This instance has cluster support disabled\r\n",
                )),
                _ => Some(self.answer(port)),
            }
        })
    }
}
