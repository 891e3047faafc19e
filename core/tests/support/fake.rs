//! A scripted fake Redis node on 127.0.0.1:0 for what a real server never sends (malformed
//! RESP, circular or unknown redirects, huge lengths). Each request (a RESP array of bulk
//! strings) is handed to a script that says what to answer.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// What the fake node does with one request.
#[allow(dead_code)]
pub enum Action {
    /// Write these bytes (raw RESP, possibly malformed).
    Reply(Vec<u8>),
    /// Read on, never answer.
    Hang,
    /// Close the connection.
    Close,
}

impl Action {
    #[allow(dead_code)]
    pub fn raw(s: &str) -> Action {
        Action::Reply(s.as_bytes().to_vec())
    }
}

type Script = dyn Fn(u16, &[Vec<u8>]) -> Option<Action> + Send + Sync;

pub struct FakeNode {
    port: u16,
    stop: Arc<AtomicBool>,
    pub requests: Arc<AtomicUsize>,
}

impl FakeNode {
    /// Starts a node; `script(port, args)` decides each answer. `None` means the default:
    /// `+OK` for the handshake (CLIENT, SELECT, HELLO, PING, READONLY), an error otherwise.
    pub fn start(
        script: impl Fn(u16, &[Vec<u8>]) -> Option<Action> + Send + Sync + 'static,
    ) -> FakeNode {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
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
        FakeNode {
            port,
            stop,
            requests,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

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
        }
    }
}

/// A `CLUSTER SHARDS` reply: one shard owning every slot, served by 127.0.0.1:`port`.
#[allow(dead_code)]
pub fn shards_all_slots(port: u16) -> Vec<u8> {
    shards(&[(0, 16383, port)])
}

/// A `CLUSTER SHARDS` reply: one shard per `(first slot, last slot, port)`, each one master on
/// 127.0.0.1.
#[allow(dead_code)]
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
