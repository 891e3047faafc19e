//! tests/fixtures/patterns.json: the key → pattern vectors every language's suite reads.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use slotshift::analyzer::generalise::Generaliser;
use slotshift::analyzer::Normaliser;

fn fixture() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/patterns.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn normalise_vectors() {
    let n = Normaliser::new(Vec::new()).unwrap();
    let cases = fixture()["normalise"].as_array().unwrap().clone();
    assert!(cases.len() >= 20);
    for case in cases {
        let key = match (case.get("key"), case.get("key_hex")) {
            (Some(k), _) => k.as_str().unwrap().as_bytes().to_vec(),
            (None, Some(h)) => unhex(h.as_str().unwrap()),
            _ => panic!("case without key: {case}"),
        };
        assert_eq!(
            n.pattern(&key),
            case["pattern"].as_str().unwrap(),
            "key {:?}",
            String::from_utf8_lossy(&key)
        );
    }
}

#[test]
fn generalisation_vectors() {
    let n = Normaliser::new(Vec::new()).unwrap();
    for ks in fixture()["keyspaces"].as_array().unwrap() {
        let keys: Vec<&str> = ks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        let want: Vec<&str> = ks["patterns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        let repeat = ks["repeat"].as_u64().unwrap();
        let mut g = Generaliser::new(64, 50_000, 32);
        let mut provisional = Vec::new();
        for _ in 0..repeat {
            for k in &keys {
                provisional.push(g.observe(&n.labels(k.as_bytes())));
            }
        }
        g.finish();
        let got: Vec<String> = provisional[..keys.len()]
            .iter()
            .map(|p| g.fold(p))
            .collect();
        assert_eq!(got, want, "{}", ks["name"]);
    }
}
