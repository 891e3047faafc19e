//! `rediss://`: certificates and host names are verified by default; skipping verification
//! takes an explicit `insecure=true`. The server's certificate names only `localhost`, signed
//! by a CA made for this test with openssl.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::path::Path;
use std::process::Command;

use slotshift::command::Cmd;
use slotshift::reply::Reply;
use slotshift::store::{ConnectionErrorKind, Store};
use slotshift::testing::Standalone;
use slotshift::Error;

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl is installed");
    assert!(status.success(), "openssl {args:?}");
}

fn make_certs(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=slotshift test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=DNS:localhost\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn tls_is_verified_by_default_and_insecure_only_on_request() {
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path());
    let file = |name: &str| certs.path().join(name).to_string_lossy().into_owned();
    let port = free_port();
    let _server = Standalone::builder()
        .config("tls-port", &port.to_string())
        .config("tls-cert-file", &file("server.pem"))
        .config("tls-key-file", &file("server.key"))
        .config("tls-ca-cert-file", &file("ca.pem"))
        .config("tls-auth-clients", "no")
        .start()
        .unwrap();
    let ca = file("ca.pem");
    let ping = |url: &str| Store::open(url).and_then(|s| s.call(&Cmd::from_args(["PING"])));

    // Trusted CA, matching name: works.
    assert_eq!(
        ping(&format!("rediss://localhost:{port}?ca_file={ca}")).unwrap(),
        Reply::Status("PONG".into())
    );

    // The system's roots do not know the test CA: refused.
    let err = ping(&format!("rediss://localhost:{port}")).unwrap_err();
    assert!(
        matches!(&err, Error::Connection(c) if c.kind == ConnectionErrorKind::Connect),
        "{err}"
    );
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");

    // Trusted CA, but the certificate does not name 127.0.0.1: refused.
    let err = ping(&format!("rediss://127.0.0.1:{port}?ca_file={ca}")).unwrap_err();
    assert!(matches!(&err, Error::Connection(_)), "{err}");
    assert!(
        err.to_string().contains("not valid for name \"127.0.0.1\""),
        "{err}"
    );

    // Only an explicit opt-in skips verification.
    assert_eq!(
        ping(&format!("rediss://127.0.0.1:{port}?insecure=true")).unwrap(),
        Reply::Status("PONG".into())
    );
}

/// `rediss://` to a server that speaks plain RESP: the TLS handshake gets no answer; the error
/// says the port is plain text and what to change, rather than only "timed out".
#[test]
fn tls_to_a_plain_server_says_so() {
    let server = Standalone::start().unwrap();
    let mut opts = slotshift::store::StoreOptions::default();
    opts.connect_timeout = std::time::Duration::from_millis(500);
    let url = format!("rediss://127.0.0.1:{}?insecure=true", server.port());
    match Store::open_with_options(&url, opts) {
        Err(Error::Connection(e)) => {
            assert_eq!(e.kind, ConnectionErrorKind::Connect, "{e}");
            assert!(
                e.message.contains("use redis:// instead of rediss://"),
                "{e}"
            );
        }
        other => panic!("expected a connection error, got {other:?}"),
    }
}
