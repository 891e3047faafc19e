//! Fuzz targets for every parser of bytes that come from outside: RESP replies (and what is
//! read from them: topologies, SCAN pages), URLs, config and rule files, `CLUSTER NODES` text,
//! checkpoint files; the CLI's capture-line parser has its own (`cli/src/validate.rs`).
//!
//! Each target is a test named `fuzz_…`. It first replays its committed corpus
//! (`core/fuzz/corpus/<target>/`: one input per file, the shapes that matter plus every input
//! that once failed), then feeds random inputs for bolero's time budget (1 s by default;
//! `make fuzz` sets `BOLERO_RANDOM_TEST_TIME_MS` for a long run). The property is always the
//! same: the parser returns, `Ok` or a clear `Err`, and never panics, whatever the bytes.
//! Coverage-guided runs (`cargo bolero test`) need a nightly toolchain this project does not
//! use; the targets are written so that they work there unchanged.

use std::path::PathBuf;

/// Runs `parse` on every input of `target`'s corpus, then on random inputs.
pub(crate) fn run(target: &str, parse: impl Fn(&[u8]) + std::panic::RefUnwindSafe) {
    let corpus = corpus(target);
    assert!(!corpus.is_empty(), "no corpus for {target}");
    for input in &corpus {
        parse(input);
    }
    let random = std::sync::atomic::AtomicUsize::new(0);
    bolero::check!().for_each(|input: &[u8]| {
        random.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        parse(input);
    });
    // The engine really ran (a harness that skipped the random phase would pass vacuously).
    assert!(
        random.into_inner() > 0,
        "{target}: no random input was tried"
    );
}

/// The committed inputs of `target`, in file-name order.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir: PathBuf = [env!("CARGO_MANIFEST_DIR"), "fuzz", "corpus", target]
        .iter()
        .collect();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// Text from bytes, as a parser of text gets it (invalid UTF-8 replaced).
pub(crate) fn text(input: &[u8]) -> String {
    String::from_utf8_lossy(input).into_owned()
}

/// A server's reply from RESP bytes, read as the transport reads it (`None` when they are not
/// RESP or stop part-way through a value).
pub(crate) fn reply(input: &[u8]) -> Option<crate::reply::Reply> {
    crate::net::resp::decode(input)
        .ok()
        .flatten()
        .map(|(reply, _)| reply)
}

/// `input` written to a fresh temporary file, for the parsers that read files.
pub(crate) fn file(input: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut f, input).unwrap();
    f
}

#[cfg(test)]
mod targets {
    use super::*;
    use crate::cluster::Topology;
    use crate::config::{Deployment, ServerConfig};
    use crate::reply::Reply;

    /// A server's reply: RESP2/RESP3 bytes into a [`Reply`], then each reader of replies that
    /// trusts a shape (topologies, SCAN pages, error lines).
    #[test]
    fn fuzz_resp_replies() {
        run("resp_replies", |input| {
            // The transport's reader and the `redis` crate's agree on every value both
            // read whole (the crate still reads the shared and TLS connections). Push frames
            // aside: the crate's push value keeps its kind apart, and no request/reply
            // connection receives one.
            let crate_reply = redis::parse_redis_value(input).ok().map(Reply::from_value);
            let Some(reply) = reply(input) else {
                return;
            };
            if let Some(theirs) = crate_reply {
                if !has_nan(&reply) && !has_nan(&theirs) && !input.contains(&b'>') {
                    assert_eq!(reply, theirs, "the two readers differ on {input:?}");
                }
            }
            let _ = Topology::from_cluster_shards(&reply, "127.0.0.1", false);
            let _ = Topology::from_cluster_shards(&reply, "127.0.0.1", true);
            let _ = Topology::from_cluster_slots(&reply, "127.0.0.1");
            if let Reply::Error(e) = &reply {
                let _ = crate::reply::ServerError::parse(&e.to_string());
            }
        });
    }

    /// Whether a reply holds a NaN double (never equal to itself).
    fn has_nan(reply: &Reply) -> bool {
        match reply {
            Reply::Double(d) => d.is_nan(),
            Reply::Array(items) | Reply::Set(items) => items.iter().any(has_nan),
            Reply::Map(pairs) => pairs.iter().any(|(k, v)| has_nan(k) || has_nan(v)),
            _ => false,
        }
    }

    /// URLs and seed lists as users type them; what parses prints and parses again.
    #[test]
    fn fuzz_urls() {
        run("urls", |input| {
            let url = text(input);
            if let Ok(d) = Deployment::parse(&url) {
                let shown = d.to_string();
                let _ = Deployment::parse(&shown);
            }
            let _ = ServerConfig::parse(&url);
            let _ = Deployment::from_urls(&url.split(' ').collect::<Vec<_>>());
        });
    }

    /// Config files (`redis.yml`-shaped YAML) and the analyzer's rule files.
    #[test]
    fn fuzz_config_files() {
        run("config_files", |input| {
            let f = file(input);
            let _ = Deployment::from_yaml_file(f.path());
            let _ = Deployment::from_yaml_file_env(f.path(), "production");
            let _ = crate::analyzer::parse_rules(&text(input), "fuzz");
        });
    }
}
