//! The `SCAN` command and its reply, as every lister of the walk sends and reads them.

use crate::command::Cmd;
use crate::reply::Reply;

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`.
pub(crate) fn scan_cmd(
    cursor: &[u8],
    pattern: Option<&[u8]>,
    count: Option<usize>,
    key_type: Option<&str>,
) -> Cmd {
    let mut cmd = Cmd::new("SCAN");
    cmd.arg(cursor);
    if let Some(p) = pattern {
        cmd.arg("MATCH").arg(p);
    }
    if let Some(c) = count {
        cmd.arg("COUNT").arg(c.max(1).to_string());
    }
    if let Some(t) = key_type {
        cmd.arg("TYPE").arg(t);
    }
    cmd
}

/// The `[cursor, [key…]]` reply of `SCAN`; `None` when it has another shape.
pub(crate) fn parse_scan(reply: Reply) -> Option<(Vec<u8>, Vec<Vec<u8>>)> {
    let Reply::Array(parts) = reply else {
        return None;
    };
    let [cursor, keys]: [Reply; 2] = parts.try_into().ok()?;
    let cursor = match cursor {
        Reply::Bulk(b) => b,
        Reply::Status(s) => s.into_bytes(),
        _ => return None,
    };
    let keys = match keys {
        Reply::Array(items) | Reply::Set(items) => items
            .into_iter()
            .map(|k| match k {
                Reply::Bulk(b) => Some(b),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?,
        _ => return None,
    };
    Some((cursor, keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_reply_parses() {
        let r = Reply::Array(vec![
            Reply::Bulk(b"17".to_vec()),
            Reply::Array(vec![Reply::Bulk(b"a".to_vec()), Reply::Bulk(b"b".to_vec())]),
        ]);
        let (c, k) = parse_scan(r).unwrap();
        assert_eq!(c, b"17");
        assert_eq!(k, vec![b"a".to_vec(), b"b".to_vec()]);
        assert!(parse_scan(Reply::Int(3)).is_none());
        assert!(parse_scan(Reply::Array(vec![Reply::Bulk(b"0".to_vec())])).is_none());
    }

    #[test]
    fn scan_command_has_every_filter() {
        let c = scan_cmd(b"5", Some(b"u:*"), Some(100), Some("hash"));
        let args: Vec<&[u8]> = c.args().collect();
        let want: Vec<&[u8]> = vec![
            b"SCAN", b"5", b"MATCH", b"u:*", b"COUNT", b"100", b"TYPE", b"hash",
        ];
        assert_eq!(args, want);
    }
}

#[cfg(test)]
mod fuzz {
    /// A SCAN page from any reply a server (or something posing as one) sends.
    #[test]
    fn fuzz_scan_pages() {
        crate::fuzz::run("resp_replies", |input| {
            if let Some(reply) = crate::fuzz::reply(input) {
                let _ = super::parse_scan(reply);
            }
        });
    }
}
