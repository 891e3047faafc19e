//! Hash slots against the shared vectors and against a real server's `CLUSTER KEYSLOT`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers outside #[test] fns

use rand::{Rng, SeedableRng};
use slotshift::slot::{crc16, key_slot, key_slots};
use slotshift::testing::Cluster;

fn fixture() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/slots.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("read slots.json")).expect("parse")
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn fixture_vectors() -> Vec<(Vec<u8>, u16)> {
    fixture()["vectors"]
        .as_array()
        .expect("vectors")
        .iter()
        .map(|v| {
            (
                hex(v["key_hex"].as_str().expect("key_hex")),
                v["slot"].as_u64().expect("slot") as u16,
            )
        })
        .collect()
}

#[test]
fn shared_vectors_match() {
    let doc = fixture();
    let check = &doc["crc16_check"];
    assert_eq!(
        u64::from(crc16(check["input"].as_str().unwrap().as_bytes())),
        check["crc16"].as_u64().unwrap()
    );
    for pair in doc["same_slot"].as_array().unwrap() {
        let a = pair[0].as_str().unwrap().as_bytes();
        let b = pair[1].as_str().unwrap().as_bytes();
        assert_eq!(key_slot(a), key_slot(b), "{pair}");
    }
    let vectors = fixture_vectors();
    assert!(vectors.len() > 50);
    for (key, slot) in &vectors {
        assert_eq!(key_slot(key).get(), *slot, "key {key:?}");
    }
    let keys: Vec<&[u8]> = vectors.iter().map(|(k, _)| k.as_slice()).collect();
    let batch = key_slots(&keys);
    assert_eq!(
        batch.iter().map(|s| s.get()).collect::<Vec<_>>(),
        vectors.iter().map(|(_, s)| *s).collect::<Vec<_>>()
    );
}

/// Random binary keys, biased towards braces, NUL and invalid UTF-8, so hash tags of every shape occur.
fn random_keys(n: usize) -> Vec<Vec<u8>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5107_5415);
    let alphabet = [b'{', b'}', 0u8, 0xff, 0xc3, b'a', b':'];
    (0..n)
        .map(|_| {
            let len = rng.gen_range(0..48);
            (0..len)
                .map(|_| {
                    if rng.gen_bool(0.35) {
                        alphabet[rng.gen_range(0..alphabet.len())]
                    } else {
                        rng.gen()
                    }
                })
                .collect()
        })
        .collect()
}

#[test]
fn slots_equal_the_servers_cluster_keyslot() {
    let cluster = Cluster::start(1, 0).expect("start a one-node cluster");
    let mut conn = cluster.nodes()[0]
        .client()
        .get_connection()
        .expect("connect");
    let mut keys: Vec<Vec<u8>> = fixture_vectors().into_iter().map(|(k, _)| k).collect();
    keys.extend(random_keys(5000));
    let mut pipe = redis::pipe();
    for k in &keys {
        pipe.cmd("CLUSTER").arg("KEYSLOT").arg(k.as_slice());
    }
    let server: Vec<u16> = pipe.query(&mut conn).expect("CLUSTER KEYSLOT");
    assert_eq!(server.len(), keys.len());
    let mut braces = 0;
    for (k, s) in keys.iter().zip(&server) {
        braces += usize::from(k.contains(&b'{') && k.contains(&b'}'));
        assert_eq!(key_slot(k).get(), *s, "key {k:?}");
    }
    assert!(
        braces > 1000,
        "the corpus must exercise hash tags ({braces} keys with braces)"
    );
}
