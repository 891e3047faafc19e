//! Small text helpers shared by several modules (a leaf: it imports nothing from the crate).
//!
//! `pipeline::limit` still has its own `shorten`; it can import this one instead.

/// Shortens `value` to at most `max` characters for quoting in an error or a log: a value
/// that is longer keeps its first `max - 1` characters and ends with `…`.
pub(crate) fn shorten(value: &str, max: usize) -> String {
    if value.chars().count() <= max {
        return value.to_owned();
    }
    let mut s: String = value.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// A name given by a user (a command name the key table does not know) made safe as a metric
/// label or a log word: lower case, printable ASCII (anything else becomes `?`), at most `max`
/// characters, never empty.
pub(crate) fn label_word(name: &[u8], max: usize) -> String {
    let mut s: String = name
        .iter()
        .take(max)
        .map(|&b| {
            if b.is_ascii_graphic() {
                b.to_ascii_lowercase() as char
            } else {
                '?'
            }
        })
        .collect();
    if s.is_empty() {
        s.push('?');
    }
    s
}

/// A Prometheus label value escaped for the text format (`\`, `"` and newlines).
pub(crate) fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortens_by_characters() {
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("abcd", 3), "ab…");
        assert_eq!(shorten("ééééé", 4).chars().count(), 4);
    }

    #[test]
    fn label_words_are_bounded_and_printable() {
        assert_eq!(label_word(b"FROB\x00NICATE", 32), "frob?nicate");
        assert_eq!(label_word(b"", 32), "?");
        assert_eq!(label_word(&[b'a'; 100], 32).len(), 32);
        assert_eq!(escape_label("a\"b\\\n"), "a\\\"b\\\\\\n");
    }
}
