//! Key → pattern: normalisation rules, then segment classification.
//!
//! A key goes through three steps:
//!
//! 1. **User rules** (regex → placeholder, from a rules file) are applied to the whole key, in
//!    file order. They run first so they can override the built-in rules.
//! 2. **Whole-key rules** find the ids that contain separator characters: JWTs (`<jwt>`),
//!    UUIDs (`<uuid>`), e-mail addresses (`<email>`), IPv6 and IPv4 addresses (`<ip>`) and
//!    padded base64 (`<token>`).
//! 3. The key is **split into segments** on `:` `/` `.` `|` `#` `,` `;` `=` `&` `?` `@` `{` `}`
//!    `[` `]` `(` `)` and white space. Separators are kept verbatim, so a hash tag stays a tag
//!    (`{user:42}:cart` → `{user:<num>}:cart`). Each segment is classified: digits → `<num>`;
//!    32, 40 and 64 hex digits → `<hex32>`, `<hex40>`, `<hex64>`; other hex runs of 16 or
//!    more with a digit → `<hex>`; 12 or more base64url characters mixing letters and digits,
//!    or 24 or more mixing upper and lower case → `<token>`; runs of 4 or more digits inside a
//!    word → `<num>`; anything outside printable ASCII → `<text>` (valid UTF-8) or `<bin>`.
//!
//! What survives as literal text is then handed to the [auto-generaliser](super::generalise),
//! which replaces segments that vary a lot by `<*>`.

use regex::bytes::{NoExpand, Regex};

use super::AnalyzerError;

/// A user rule: a regex over the whole key and the placeholder that replaces each match.
#[derive(Debug, Clone)]
pub struct Rule {
    regex: Regex,
    placeholder: Vec<u8>,
}

impl Rule {
    /// A rule; `pattern` is a `regex` crate expression matched against key bytes.
    pub fn new(pattern: &str, placeholder: &str) -> Result<Rule, AnalyzerError> {
        let regex = Regex::new(pattern).map_err(|e| AnalyzerError::Rule {
            index: 0,
            pattern: pattern.to_owned(),
            reason: e.to_string(),
        })?;
        if placeholder.is_empty() {
            return Err(AnalyzerError::Rule {
                index: 0,
                pattern: pattern.to_owned(),
                reason: "the placeholder is empty".into(),
            });
        }
        if let Some(b) = placeholder.bytes().find(|&b| is_separator(b)) {
            return Err(AnalyzerError::Rule {
                index: 0,
                pattern: pattern.to_owned(),
                reason: format!(
                    "the placeholder {placeholder:?} contains the separator {:?}",
                    char::from(b)
                ),
            });
        }
        Ok(Rule {
            regex,
            placeholder: placeholder.as_bytes().to_vec(),
        })
    }

    /// The regex as written.
    pub fn pattern(&self) -> &str {
        self.regex.as_str()
    }

    /// The placeholder text.
    pub fn placeholder(&self) -> &[u8] {
        &self.placeholder
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    rules: Vec<RuleEntry>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    #[serde(rename = "match")]
    pattern: String,
    replace: String,
}

/// Reads user rules from YAML (or JSON, which is YAML):
///
/// ```yaml
/// rules:
///   - match: 'tenant-[a-z]+'
///     replace: '<tenant>'
/// ```
pub fn parse_rules(text: &str, origin: &str) -> Result<Vec<Rule>, AnalyzerError> {
    let file: RuleFile = serde_yaml_ng::from_str(text).map_err(|e| AnalyzerError::RuleFile {
        path: origin.to_owned(),
        reason: e.to_string(),
    })?;
    file.rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            Rule::new(&r.pattern, &r.replace).map_err(|e| match e {
                AnalyzerError::Rule {
                    pattern, reason, ..
                } => AnalyzerError::RuleFile {
                    path: origin.to_owned(),
                    reason: format!("rule {} (match: {pattern:?}): {reason}", i + 1),
                },
                other => other,
            })
        })
        .collect()
}

/// Reads user rules from a file (see [`parse_rules`]).
pub fn load_rules(path: &std::path::Path) -> Result<Vec<Rule>, AnalyzerError> {
    let text = std::fs::read_to_string(path).map_err(|e| AnalyzerError::RuleFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    parse_rules(&text, &path.display().to_string())
}

/// The normaliser: built-in rules plus user rules.
#[derive(Debug, Clone)]
pub struct Normaliser {
    user: Vec<Rule>,
    whole: Regex,
}

const WHOLE_KEY: &str = concat!(
    r"(?-u)",
    r"(?P<jwt>eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,})",
    r"|(?P<uuid>\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b)",
    r"|(?P<email>[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})",
    r"|(?P<ip6>\b(?:(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}",
    r"|[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4}){1,5}::[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4}){0,5}",
    r"|[0-9a-fA-F]{1,4}::[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4}){1,5})\b)",
    r"|(?P<ip4>\b(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}\b)",
    r"|(?P<b64>[A-Za-z0-9+/]{16,}={1,2})",
);

/// Is `b` a segment separator?
pub(crate) fn is_separator(b: u8) -> bool {
    matches!(
        b,
        b':' | b'/'
            | b'.'
            | b'|'
            | b'#'
            | b','
            | b';'
            | b'='
            | b'&'
            | b'?'
            | b'@'
            | b'{'
            | b'}'
            | b'['
            | b']'
            | b'('
            | b')'
            | b' '
            | b'\t'
    )
}

impl Normaliser {
    /// The built-in rules followed by `user` rules (user rules are applied first).
    pub fn new(user: Vec<Rule>) -> Result<Normaliser, AnalyzerError> {
        let whole = Regex::new(WHOLE_KEY).map_err(|e| AnalyzerError::Rule {
            index: 0,
            pattern: "built-in".into(),
            reason: e.to_string(),
        })?;
        Ok(Normaliser { user, whole })
    }

    /// The user rules.
    pub fn user_rules(&self) -> &[Rule] {
        &self.user
    }

    /// Normalises `key` into labels: each label is a separator (or nothing, for the first) and
    /// the classified segment after it. Joined, the labels are the rule-level pattern.
    pub fn labels(&self, key: &[u8]) -> Labels {
        let mut owned: Option<Vec<u8>> = None;
        for rule in &self.user {
            let current: &[u8] = owned.as_deref().unwrap_or(key);
            if rule.regex.is_match(current) {
                let next = rule
                    .regex
                    .replace_all(current, NoExpand(&rule.placeholder))
                    .into_owned();
                owned = Some(next);
            }
        }
        let text = owned.as_deref().unwrap_or(key);
        let replaced = self.replace_whole(text);
        split_classify(&replaced)
    }

    fn replace_whole(&self, text: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len());
        let mut last = 0;
        for caps in self.whole.captures_iter(text) {
            let Some(m) = caps.get(0) else { continue };
            let name: &[u8] = if caps.name("jwt").is_some() {
                b"<jwt>"
            } else if caps.name("uuid").is_some() {
                b"<uuid>"
            } else if caps.name("email").is_some() {
                b"<email>"
            } else if caps.name("ip6").is_some() || caps.name("ip4").is_some() {
                b"<ip>"
            } else {
                b"<token>"
            };
            out.extend_from_slice(&text[last..m.start()]);
            out.extend_from_slice(name);
            last = m.end();
        }
        out.extend_from_slice(&text[last..]);
        out
    }

    /// The rule-level pattern of `key` (before auto-generalisation).
    pub fn pattern(&self, key: &[u8]) -> String {
        self.labels(key).text
    }
}

/// A key's labels in one buffer: `text` is the rule-level pattern, `ends` where each label
/// ends in it.
#[derive(Debug, Clone, Default)]
pub struct Labels {
    text: String,
    ends: smallvec::SmallVec<[u32; 12]>,
}

impl Labels {
    /// The rule-level pattern (all labels joined).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The labels, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        let mut start = 0usize;
        self.ends.iter().map(move |&e| {
            let l = self.text.get(start..e as usize).unwrap_or("");
            start = e as usize;
            l
        })
    }

    /// How many labels.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True for no label (never returned by the normaliser, which gives at least one).
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

fn split_classify(text: &[u8]) -> Labels {
    let mut labels = Labels {
        text: String::with_capacity(text.len() + 8),
        ends: smallvec::SmallVec::new(),
    };
    let mut start = 0;
    let mut sep: Option<u8> = None;
    let mut i = 0;
    while i <= text.len() {
        let at_end = i == text.len();
        if at_end || is_separator(text[i]) {
            if let Some(s) = sep {
                labels.text.push(char::from(s));
            }
            classify(&text[start..i], &mut labels.text);
            labels.ends.push(labels.text.len() as u32);
            if !at_end {
                sep = Some(text[i]);
            }
            start = i + 1;
        }
        i += 1;
    }
    labels
}

/// Appends the classified form of one segment to `out`.
pub(crate) fn classify(seg: &[u8], out: &mut String) {
    if seg.is_empty() {
        return;
    }
    if seg.len() > 2 && seg[0] == b'<' && seg[seg.len() - 1] == b'>' && seg.is_ascii() {
        // A placeholder from an earlier rule.
        if seg.iter().all(|b| b.is_ascii_graphic()) {
            out.push_str(&String::from_utf8_lossy(seg));
            return;
        }
    }
    if !seg.iter().all(|b| b.is_ascii_graphic()) {
        out.push_str(
            if std::str::from_utf8(seg).is_ok() && !seg.iter().any(|b| b.is_ascii_control()) {
                "<text>"
            } else {
                "<bin>"
            },
        );
        return;
    }
    let digits = seg.iter().filter(|b| b.is_ascii_digit()).count();
    if digits == seg.len() {
        out.push_str("<num>");
        return;
    }
    let hex = seg.iter().all(|b| b.is_ascii_hexdigit());
    if hex {
        match seg.len() {
            32 => return out.push_str("<hex32>"),
            40 => return out.push_str("<hex40>"),
            64 => return out.push_str("<hex64>"),
            n if n >= 16 && digits > 0 => return out.push_str("<hex>"),
            _ => {}
        }
    }
    let b64url = seg
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+'));
    if b64url {
        let letters = seg.iter().filter(|b| b.is_ascii_alphabetic()).count();
        let upper = seg.iter().any(|b| b.is_ascii_uppercase());
        let lower = seg.iter().any(|b| b.is_ascii_lowercase());
        if (seg.len() >= 12 && digits > 0 && letters > 0) || (seg.len() >= 24 && upper && lower) {
            return out.push_str("<token>");
        }
    }
    // Runs of 4+ digits inside a word become <num>; shorter runs (v2, sha256) stay.
    let mut i = 0;
    while i < seg.len() {
        if seg[i].is_ascii_digit() {
            let j = seg[i..]
                .iter()
                .position(|b| !b.is_ascii_digit())
                .map_or(seg.len(), |p| i + p);
            if j - i >= 4 {
                out.push_str("<num>");
            } else {
                out.extend(seg[i..j].iter().map(|&b| char::from(b)));
            }
            i = j;
        } else {
            out.push(char::from(seg[i]));
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(key: &str) -> String {
        Normaliser::new(Vec::new()).unwrap().pattern(key.as_bytes())
    }

    #[test]
    fn built_in_rules() {
        assert_eq!(p("user:1000:profile"), "user:<num>:profile");
        assert_eq!(
            p("session:550e8400-e29b-41d4-a716-446655440000"),
            "session:<uuid>"
        );
        assert_eq!(p("login:alice.smith42@example.com:n"), "login:<email>:n");
        assert_eq!(p("rl:10.1.200.3"), "rl:<ip>");
        assert_eq!(p("rl6:2001:db8::1a2b"), "rl6:<ip>");
        assert_eq!(p("c:d41d8cd98f00b204e9800998ecf8427e"), "c:<hex32>");
        assert_eq!(p("b:da39a3ee5e6b4b0d3255bfef95601890afd80709"), "b:<hex40>");
        assert_eq!(p("{tenant:42}:settings"), "{tenant:<num>}:settings");
        assert_eq!(p("job12345:v2:sha256"), "job<num>:v2:sha256");
        assert_eq!(p("t:Ab3dE5gH9jK1"), "t:<token>");
        assert_eq!(p("k:QmFzZTY0+VG9r/ZW4xMjM0NTY3OA=="), "k:<token>");
        assert_eq!(
            p("o:eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"),
            "o:<jwt>"
        );
        assert_eq!(p("x:\u{e9}t\u{e9}"), "x:<text>");
        assert_eq!(
            Normaliser::new(Vec::new()).unwrap().pattern(b"x:\xff\x00"),
            "x:<bin>"
        );
        assert_eq!(p("a::b"), "a::b");
        assert_eq!(p(""), "");
        assert_eq!(p("trailing:"), "trailing:");
    }

    #[test]
    fn user_rules_first() {
        let rules = parse_rules(
            "rules:\n  - match: 'tenant-[a-z]+'\n    replace: '<tenant>'\n",
            "inline",
        )
        .unwrap();
        let n = Normaliser::new(rules).unwrap();
        assert_eq!(n.pattern(b"cfg:tenant-acme:1"), "cfg:<tenant>:<num>");
    }

    #[test]
    fn bad_rules_are_named() {
        let e = parse_rules("rules:\n  - match: '(unclosed'\n    replace: x\n", "r.yml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("r.yml") && e.contains("rule 1") && e.contains("(unclosed"),
            "{e}"
        );
        let e = parse_rules("rules: 3", "r.yml").unwrap_err().to_string();
        assert!(e.contains("r.yml"), "{e}");
    }
}
