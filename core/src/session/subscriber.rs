//! Pub/sub on a connection of the caller's own.
//!
//! The connection speaks RESP3, where a subscribed connection may still run any command and
//! every message and subscription confirmation arrives as a push frame, kept in order in an
//! inbox until [`Subscriber::next_message`] takes it. Messages read the way RESP2 sends them:
//! an array of the kind and its fields, `["message", channel, payload]`,
//! `["pmessage", pattern, channel, payload]`, `["smessage", channel, payload]`,
//! `["subscribe", channel, count]` … So pub/sub needs a server that speaks RESP3 (Redis 6 or
//! later); an older one refuses the connection with a clear error.

use std::collections::BTreeSet;

use parking_lot::Mutex;
use redis::PushInfo;
use tokio::sync::mpsc::UnboundedReceiver;

use super::{final_reply, Line, Target};
use crate::command::Cmd;
use crate::instrument::Via;
use crate::net::NodeAddr;
use crate::reply::{Reply, ServerError};
use crate::store::Store;
use crate::{Error, Result};

/// What a subscription names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Subscription {
    /// Channels: `SUBSCRIBE` / `UNSUBSCRIBE`.
    Channel,
    /// Glob-style patterns: `PSUBSCRIBE` / `PUNSUBSCRIBE`.
    Pattern,
    /// Shard channels (Redis 7): `SSUBSCRIBE` / `SUNSUBSCRIBE`.
    Shard,
}

use Subscription as Kind;

impl Subscription {
    fn index(self) -> usize {
        match self {
            Subscription::Channel => 0,
            Subscription::Pattern => 1,
            Subscription::Shard => 2,
        }
    }

    /// The kind and direction (`true`: subscribe) a command's name stands for —
    /// `"subscribe"`, `"PUNSUBSCRIBE"`, `"ssubscribe"` … in any case; `None` for any other
    /// name. For bindings that receive subscription changes as commands.
    pub fn of_command(name: &str) -> Option<(Subscription, bool)> {
        [Kind::Channel, Kind::Pattern, Kind::Shard]
            .into_iter()
            .flat_map(|kind| [(kind, true), (kind, false)])
            .find(|&(kind, subscribe)| kind.command(subscribe).eq_ignore_ascii_case(name))
    }

    fn command(self, subscribe: bool) -> &'static str {
        match (self, subscribe) {
            (Kind::Channel, true) => "SUBSCRIBE",
            (Kind::Channel, false) => "UNSUBSCRIBE",
            (Kind::Pattern, true) => "PSUBSCRIBE",
            (Kind::Pattern, false) => "PUNSUBSCRIBE",
            (Kind::Shard, true) => "SSUBSCRIBE",
            (Kind::Shard, false) => "SUNSUBSCRIBE",
        }
    }
}

/// A pub/sub connection (see the [module](self)). Safe to share between threads: one thread
/// may read messages while another changes the subscriptions.
pub struct Subscriber {
    line: Line,
    inbox: tokio::sync::Mutex<UnboundedReceiver<PushInfo>>,
    /// The names subscribed to, per [`Subscription`] kind (an unsubscribe of all goes out
    /// one name per request, so that each request gets exactly one confirmation).
    held: Mutex<[BTreeSet<Vec<u8>>; 3]>,
    /// Messages a caller read but gave back ([`Subscriber::unread`]), the next one last.
    unread: Mutex<Vec<Reply>>,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.line.debug_as("Subscriber", f)
    }
}

impl Subscriber {
    /// Opens a pub/sub connection to the node `target` names. On a cluster, `SUBSCRIBE` and
    /// `PSUBSCRIBE` hear every node's messages from any node ([`Target::Default`]); a shard
    /// channel is heard on the master of its slot ([`Target::Key`] with the channel's name).
    pub fn open(store: &Store, target: &Target) -> Result<Subscriber> {
        crate::store::block_on(Subscriber::open_async(store, target))?
    }

    /// [`Subscriber::open`] for async callers.
    pub async fn open_async(store: &Store, target: &Target) -> Result<Subscriber> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        Ok(Subscriber {
            line: Line::open(store, target, Some(tx)).await?,
            inbox: tokio::sync::Mutex::new(rx),
            held: Mutex::new(Default::default()),
            unread: Mutex::new(Vec::new()),
        })
    }

    /// The node this subscriber is connected to.
    pub fn node(&self) -> &NodeAddr {
        &self.line.addr
    }

    /// Whether the connection is still open.
    pub fn is_open(&self) -> bool {
        self.line.is_open()
    }

    /// Ends every subscription (waiting for the server's confirmations, so that when this
    /// returns the server no longer counts them), then closes the connection. Messages already
    /// received can still be read.
    pub fn close(&self) {
        if crate::store::block_on(self.close_async()).is_err() {
            // Called from inside an async runtime: close without waiting.
            self.line.close("closed by the caller".into());
        }
    }

    /// Drops the connection at once, without ending the subscriptions first (the server
    /// forgets them when it sees the connection close), as a lost connection would; messages
    /// already received can still be read, then [`Subscriber::next_message`] fails. For a
    /// caller that reconnects and subscribes again on a new subscriber (redis-py's
    /// `Connection.disconnect()`).
    pub fn disconnect(&self) {
        self.line.close("disconnected by the caller".into());
    }

    /// [`Subscriber::close`] for async callers.
    pub async fn close_async(&self) {
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            let held = !self.held.lock()[kind.index()].is_empty();
            if held && self.line.is_open() {
                if let Err(e) = self.send_change(kind, false, Vec::new()).await {
                    log::debug!("closing a subscriber: {e}");
                }
            }
        }
        self.line.close("closed by the caller".into());
    }

    /// Subscribes to `channels` (at least one); one `subscribe` confirmation per channel
    /// follows in the messages.
    pub fn subscribe<C: AsRef<[u8]>>(&self, channels: &[C]) -> Result<()> {
        self.change(Kind::Channel, true, channels)
    }

    /// Subscribes to the channels that match `patterns` (glob-style, at least one).
    pub fn psubscribe<C: AsRef<[u8]>>(&self, patterns: &[C]) -> Result<()> {
        self.change(Kind::Pattern, true, patterns)
    }

    /// Subscribes to shard `channels` (Redis 7; at least one), which must hash to slots this
    /// node serves.
    pub fn ssubscribe<C: AsRef<[u8]>>(&self, channels: &[C]) -> Result<()> {
        self.change(Kind::Shard, true, channels)
    }

    /// Unsubscribes from `channels`; from every channel when `channels` is empty.
    pub fn unsubscribe<C: AsRef<[u8]>>(&self, channels: &[C]) -> Result<()> {
        self.change(Kind::Channel, false, channels)
    }

    /// Unsubscribes from `patterns`; from every pattern when `patterns` is empty.
    pub fn punsubscribe<C: AsRef<[u8]>>(&self, patterns: &[C]) -> Result<()> {
        self.change(Kind::Pattern, false, patterns)
    }

    /// Unsubscribes from shard `channels`; from every shard channel when `channels` is empty.
    pub fn sunsubscribe<C: AsRef<[u8]>>(&self, channels: &[C]) -> Result<()> {
        self.change(Kind::Shard, false, channels)
    }

    fn change<C: AsRef<[u8]>>(&self, kind: Kind, subscribe: bool, names: &[C]) -> Result<()> {
        let names: Vec<Vec<u8>> = names.iter().map(|n| n.as_ref().to_vec()).collect();
        crate::store::block_on(self.change_async(kind, subscribe, names))?
    }

    /// Subscribes to `names` of `kind` (at least one), for async callers; returns once the
    /// server confirmed (the confirmations also come out of the messages).
    pub async fn subscribe_async(&self, kind: Subscription, names: Vec<Vec<u8>>) -> Result<()> {
        self.change_async(kind, true, names).await
    }

    /// Unsubscribes from `names` of `kind` (every one of that kind when empty), for async
    /// callers.
    pub async fn unsubscribe_async(&self, kind: Subscription, names: Vec<Vec<u8>>) -> Result<()> {
        self.change_async(kind, false, names).await
    }

    /// Subscribes to (`subscribe`) or unsubscribes from `names` of `kind`, for async callers:
    /// [`Subscriber::subscribe_async`] or [`Subscriber::unsubscribe_async`] as `subscribe`
    /// says (with [`Subscription::of_command`], a change given as a command's name).
    pub async fn change_async(
        &self,
        kind: Subscription,
        subscribe: bool,
        names: Vec<Vec<u8>>,
    ) -> Result<()> {
        let name = kind.command(subscribe);
        if subscribe && names.is_empty() {
            return Err(Error::Server(ServerError::new(
                "ERR",
                format!("{name} needs at least one channel or pattern"),
            )));
        }
        let mut cmd = Cmd::new(name);
        for n in &names {
            cmd.arg(n);
        }
        let hooks = self.line.store.hooks();
        let probe = hooks.before(std::slice::from_ref(&cmd), Via::Call)?;
        // Recorded as an OK reply; the confirmations follow in the messages.
        let result = self
            .send_change(kind, subscribe, names)
            .await
            .map(|()| Reply::Status("OK".into()));
        hooks.after_call(probe, &cmd, &result);
        result.map(drop)
    }

    /// One request per name, so that each request gets exactly one confirmation (its reply);
    /// an unsubscribe of all names the subscriptions this subscriber holds (the connection
    /// library's own count of an unsubscribe-all's confirmations went wrong when an earlier
    /// one's were still unread). With nothing to leave, the bare command: the server confirms
    /// once, with a nil name.
    async fn send_change(&self, kind: Kind, subscribe: bool, names: Vec<Vec<u8>>) -> Result<()> {
        let mut conn = self.line.conn()?;
        let timeout = Some(self.line.response_timeout);
        let names = if !subscribe && names.is_empty() {
            let held: Vec<Vec<u8>> = self.held.lock()[kind.index()].iter().cloned().collect();
            if held.is_empty() {
                vec![Vec::new()]
            } else {
                held
            }
        } else {
            names
        };
        for name in names {
            let mut cmd = redis::cmd(kind.command(subscribe));
            if !name.is_empty() {
                cmd.arg(&name);
            }
            let reply = self
                .line
                .request(timeout, conn.send_packed_command(&cmd))
                .await?;
            final_reply(reply)?;
            let mut held = self.held.lock();
            let set = &mut held[kind.index()];
            if subscribe {
                set.insert(name);
            } else {
                set.remove(&name);
            }
        }
        Ok(())
    }

    /// Sends any other command on the pub/sub connection (`PING`, `PUBLISH` …). Its reply is
    /// RESP3-typed (a map for `HGETALL`, a double for `ZSCORE`).
    pub fn call(&self, cmd: &Cmd) -> Result<Reply> {
        crate::store::block_on(self.call_async(cmd))?
    }

    /// [`Subscriber::call`] for async callers.
    pub async fn call_async(&self, cmd: &Cmd) -> Result<Reply> {
        let hooks = self.line.store.hooks();
        let probe = hooks.before(std::slice::from_ref(cmd), Via::Call)?;
        let result = async {
            let mut conn = self.line.conn()?;
            let packed = cmd.to_redis();
            let timeout = Some(self.line.response_timeout);
            final_reply(
                self.line
                    .request(timeout, conn.send_packed_command(&packed))
                    .await?,
            )
        }
        .await;
        hooks.after_call(probe, cmd, &result);
        result
    }

    /// The next message or confirmation, waiting at most `timeout` (`None`: until one comes);
    /// `Ok(None)` when none came in time. After the connection is lost or closed, the messages
    /// received before are still given, then an error that says why.
    pub fn next_message(&self, timeout: Option<std::time::Duration>) -> Result<Option<Reply>> {
        crate::store::block_on(self.next_message_async(timeout))?
    }

    /// Gives back a message read but not delivered (a binding whose caller cancelled the wait
    /// after the message came): the next read returns it first.
    pub fn unread(&self, message: Reply) {
        self.unread.lock().push(message);
    }

    /// [`Subscriber::next_message`] for async callers. Cancel-safe: a message is never lost
    /// when the future is dropped.
    pub async fn next_message_async(
        &self,
        timeout: Option<std::time::Duration>,
    ) -> Result<Option<Reply>> {
        let mut inbox = self.inbox.lock().await;
        if let Some(message) = self.unread.lock().pop() {
            return Ok(Some(message));
        }
        loop {
            if !self.line.is_open() {
                // Only what is already in the inbox; then why the connection is closed.
                return match inbox.try_recv() {
                    Ok(push) => Ok(Some(message(push))),
                    Err(_) => self.line.conn().map(|_| None),
                };
            }
            let push = match timeout {
                Some(limit) => match tokio::time::timeout(limit, inbox.recv()).await {
                    Ok(push) => push,
                    Err(_) => return Ok(None),
                },
                None => inbox.recv().await,
            };
            match push {
                Some(push) if push.kind == redis::PushKind::Disconnection => {
                    self.line.close("the connection was lost".into());
                }
                Some(push) => return Ok(Some(message(push))),
                None => self.line.close("the connection was lost".into()),
            }
        }
    }
}

/// A push frame as RESP2 sends the same message: its kind, then its fields.
fn message(push: PushInfo) -> Reply {
    let mut items = Vec::with_capacity(push.data.len() + 1);
    items.push(Reply::Bulk(push.kind.to_string().into_bytes()));
    items.extend(push.data.into_iter().map(Reply::from_value));
    Reply::Array(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commands_name_gives_its_kind_and_direction_in_any_case() {
        assert_eq!(
            Subscription::of_command("psubscribe"),
            Some((Kind::Pattern, true))
        );
        assert_eq!(
            Subscription::of_command("SUNSUBSCRIBE"),
            Some((Kind::Shard, false))
        );
        assert_eq!(
            Subscription::of_command("Unsubscribe"),
            Some((Kind::Channel, false))
        );
        assert_eq!(Subscription::of_command("publish"), None);
        assert_eq!(Subscription::of_command(""), None);
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            for subscribe in [true, false] {
                assert_eq!(
                    Subscription::of_command(kind.command(subscribe)),
                    Some((kind, subscribe))
                );
            }
        }
    }
}
