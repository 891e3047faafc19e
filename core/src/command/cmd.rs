//! [`Cmd`]: one command line, binary-safe, stored in a single buffer.

use smallvec::SmallVec;
use std::fmt;

/// One command line: the name and its arguments, as bytes.
///
/// All arguments live in one contiguous buffer with their end offsets beside it, so building a
/// command costs one or two allocations however many arguments it has, and handing its pieces to
/// the wire is a slice each. `Debug` shows the name and the number of arguments, never the
/// argument bytes (they may hold a password: `AUTH`, `HELLO … AUTH`, `MIGRATE … AUTH`).
///
/// ```
/// use slotshift::command::Cmd;
/// let mut cmd = Cmd::new("MSET");
/// cmd.arg("a").arg(b"1").arg("b").arg(2.to_string());
/// assert_eq!(cmd.len(), 5);
/// assert_eq!(cmd.name(), b"MSET");
/// assert_eq!(cmd.get(3), Some(&b"b"[..]));
/// assert_eq!(format!("{cmd:?}"), r#"Cmd { name: "MSET", args: 4 }"#);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Cmd {
    data: Vec<u8>,
    /// `ends[i]` is the end offset of argument `i` in `data`; argument `i` starts at `ends[i-1]`.
    ends: SmallVec<[usize; 6]>,
}

impl Cmd {
    /// A command with just its name (`GET`, `OBJECT`, …).
    pub fn new(name: impl AsRef<[u8]>) -> Cmd {
        let name = name.as_ref();
        let mut data = Vec::with_capacity(name.len() + 32);
        data.extend_from_slice(name);
        let mut ends = SmallVec::new();
        ends.push(data.len());
        Cmd { data, ends }
    }

    /// A command from all its parts, the name first. An empty iterator gives an empty command,
    /// which every lookup refuses with [`CommandError::Empty`](super::CommandError::Empty).
    pub fn from_args<I>(args: I) -> Cmd
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let mut cmd = Cmd::default();
        for a in args {
            cmd.arg(a);
        }
        cmd
    }

    /// Appends one argument.
    pub fn arg(&mut self, arg: impl AsRef<[u8]>) -> &mut Cmd {
        self.data.extend_from_slice(arg.as_ref());
        self.ends.push(self.data.len());
        self
    }

    /// Appends one argument, by value (builder style).
    #[must_use]
    pub fn with_arg(mut self, arg: impl AsRef<[u8]>) -> Cmd {
        self.arg(arg);
        self
    }

    /// Appends several arguments, by value (builder style).
    #[must_use]
    pub fn with_args<I>(mut self, args: I) -> Cmd
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        self.args_extend(args);
        self
    }

    /// Appends several arguments.
    pub fn args_extend<I>(&mut self, args: I) -> &mut Cmd
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        for a in args {
            self.arg(a);
        }
        self
    }

    /// Argument `i` (0 is the command name).
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.data.get(start..end)
    }

    /// Every part, the name first.
    pub fn args(&self) -> impl ExactSizeIterator<Item = &[u8]> + DoubleEndedIterator + '_ {
        (0..self.ends.len()).map(move |i| {
            let start = if i == 0 { 0 } else { self.ends[i - 1] };
            &self.data[start..self.ends[i]]
        })
    }

    /// Number of parts, the name included.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when the command has no parts at all (not even a name).
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The command name as given (empty for an empty command).
    pub fn name(&self) -> &[u8] {
        self.get(0).unwrap_or_default()
    }

    /// Total bytes of all parts (what the arguments weigh, without RESP framing).
    pub fn byte_len(&self) -> usize {
        self.data.len()
    }

    /// A copy with argument `i` replaced; `None` if there is no argument `i`.
    ///
    /// The batcher uses it to rewrite a command by key position.
    pub fn with_replaced(&self, i: usize, value: impl AsRef<[u8]>) -> Option<Cmd> {
        if i >= self.len() {
            return None;
        }
        let value = value.as_ref();
        let mut out = Cmd {
            data: Vec::with_capacity(self.data.len() + value.len()),
            ends: SmallVec::with_capacity(self.ends.len()),
        };
        for (j, a) in self.args().enumerate() {
            out.arg(if j == i { value } else { a });
        }
        Some(out)
    }

    /// The command in the `redis` crate's form, ready to send.
    pub fn to_redis(&self) -> redis::Cmd {
        let mut cmd = redis::Cmd::with_capacity(self.len(), self.data.len());
        for a in self.args() {
            cmd.arg(a);
        }
        cmd
    }

    /// Appends the RESP encoding of the command (`*N\r\n$len\r\narg\r\n…`) to `out`.
    pub fn write_resp(&self, out: &mut Vec<u8>) {
        let mut digits = itoa::Buffer::new();
        let mut push_num = |out: &mut Vec<u8>, prefix: u8, n: usize| {
            out.push(prefix);
            out.extend_from_slice(digits.format(n).as_bytes());
            out.extend_from_slice(b"\r\n");
        };
        out.reserve(self.data.len() + 16 * (self.len() + 1));
        push_num(out, b'*', self.len());
        for a in self.args() {
            push_num(out, b'$', a.len());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
    }
}

impl From<&Cmd> for redis::Cmd {
    fn from(cmd: &Cmd) -> redis::Cmd {
        cmd.to_redis()
    }
}

impl From<Cmd> for redis::Cmd {
    fn from(cmd: Cmd) -> redis::Cmd {
        cmd.to_redis()
    }
}

impl<A: AsRef<[u8]>> FromIterator<A> for Cmd {
    fn from_iter<I: IntoIterator<Item = A>>(iter: I) -> Cmd {
        Cmd::from_args(iter)
    }
}

impl fmt::Debug for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cmd")
            .field("name", &String::from_utf8_lossy(self.name()))
            .field("args", &self.len().saturating_sub(1))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_reads_back_binary_args() {
        let mut c = Cmd::new("SET");
        c.arg(b"k\0ey").arg([0xffu8, 0x00]).arg("");
        assert_eq!(c.len(), 4);
        assert_eq!(c.get(0), Some(&b"SET"[..]));
        assert_eq!(c.get(1), Some(&b"k\0ey"[..]));
        assert_eq!(c.get(2), Some(&[0xffu8, 0][..]));
        assert_eq!(c.get(3), Some(&b""[..]));
        assert_eq!(c.get(4), None);
        let all: Vec<&[u8]> = c.args().collect();
        assert_eq!(all, vec![&b"SET"[..], b"k\0ey", &[0xff, 0], b""]);
        assert_eq!(c.byte_len(), 3 + 4 + 2);
    }

    #[test]
    fn from_args_equals_builder() {
        let a = Cmd::from_args(["MSET", "a", "1"]);
        let b = Cmd::new("MSET").with_arg("a").with_arg("1");
        assert_eq!(a, b);
        let c: Cmd = vec![b"MSET".to_vec(), b"a".to_vec(), b"1".to_vec()]
            .into_iter()
            .collect();
        assert_eq!(a, c);
    }

    #[test]
    fn empty_command() {
        let c = Cmd::from_args(Vec::<Vec<u8>>::new());
        assert!(c.is_empty());
        assert_eq!(c.len(), 0);
        assert_eq!(c.name(), b"");
        assert_eq!(c.get(0), None);
    }

    #[test]
    fn debug_hides_arguments() {
        let c = Cmd::from_args(["AUTH", "alice", "s3cr3t-password"]);
        let dbg = format!("{c:?}");
        assert_eq!(dbg, r#"Cmd { name: "AUTH", args: 2 }"#);
        assert!(!dbg.contains("s3cr3t"));
        assert!(!format!("{c:#?}").contains("alice"));
    }

    #[test]
    fn replace_by_position() {
        let c = Cmd::from_args(["MGET", "a", "b", "c"]);
        let r = c.with_replaced(2, "{x}b").unwrap();
        assert_eq!(r, Cmd::from_args(["MGET", "a", "{x}b", "c"]));
        assert!(c.with_replaced(4, "z").is_none());
    }

    #[test]
    fn resp_encoding_matches_redis_crate() {
        let c = Cmd::from_args([&b"SET"[..], b"k", b"v\r\n\0"]);
        let mut mine = Vec::new();
        c.write_resp(&mut mine);
        assert_eq!(mine, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\nv\r\n\0\r\n");
        assert_eq!(mine, c.to_redis().get_packed_command());
        assert_eq!(mine, redis::Cmd::from(&c).get_packed_command());
    }
}
