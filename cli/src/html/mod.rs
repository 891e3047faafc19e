//! The HTML reports (`slotshift analyze --html`, `migrate --html`, `diff --html`, the demo's
//! `report.html`): one self-contained
//! page, no script, nothing fetched when it is viewed. [`Page`] writes the document, [`chart`]
//! draws the inline SVG charts, [`keyspace`] the analyzer's sections that both reports show,
//! [`transfer`] the pages of `migrate --html` and `diff --html`.
//!
//! Every text that reaches the page goes through [`esc`]: pattern names, node addresses and
//! labels are data, and a key pattern can hold `<`, `&` or quotes.

// The timeline and the histograms draw the demo, which only a `servers` build has; that build
// (clippy runs both) still reports anything unused here.
#[cfg_attr(not(feature = "servers"), allow(dead_code))]
pub mod chart;
pub mod keyspace;
pub mod transfer;

use std::fmt::Write as _;

/// `s` escaped for HTML text and for a double-quoted attribute value.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;color:#222;max-width:1100px;margin:2em auto;padding:0 1em}\
h1{margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 8px;border-bottom:1px solid #e4e4e4;text-align:right;vertical-align:top}\
td:first-child,th:first-child{text-align:left;font-family:ui-monospace,monospace}\
.facts{display:flex;flex-wrap:wrap;gap:.6em;margin:1em 0}.fact{border:1px solid #ccc;border-radius:6px;padding:.4em .9em}\
.fact b{display:block;font-size:1.5em}.ok{color:#17823b}.bad{color:#b3261e}\
figure{margin:1em 0}figcaption{font-weight:600;margin-bottom:.3em}svg text{font:11px ui-monospace,monospace;fill:#333}\
.row{display:flex;flex-wrap:wrap;gap:0 2em}.note{color:#555}pre{background:#f6f6f6;padding:1em;overflow:auto}";

/// An HTML document being written, section by section.
pub struct Page {
    html: String,
}

impl Page {
    /// A page titled `title` (also its `<h1>`).
    pub fn new(title: &str) -> Page {
        let t = esc(title);
        Page {
            html: format!(
                "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>{STYLE}</style></head><body>\n<h1>{t}</h1>\n"
            ),
        }
    }

    /// A section heading.
    pub fn heading(&mut self, text: &str) {
        let _ = writeln!(self.html, "<h2>{}</h2>", esc(text));
    }

    /// A paragraph of plain text; `class` styles it (`""` for none).
    pub fn para(&mut self, class: &str, text: &str) {
        let _ = writeln!(self.html, "<p class=\"{}\">{}</p>", esc(class), esc(text));
    }

    /// Preformatted text (a log).
    #[cfg_attr(not(feature = "servers"), allow(dead_code))] // the demo's phase log
    pub fn pre(&mut self, text: &str) {
        let _ = writeln!(self.html, "<pre>{}</pre>", esc(text));
    }

    /// A row of boxed figures (label, value, class `ok`/`bad`/`""`): the report's headline.
    pub fn facts(&mut self, id: &str, facts: &[(&str, String, &str)]) {
        let _ = write!(self.html, "<div class=\"facts\" id=\"{}\">", esc(id));
        for (label, value, class) in facts {
            let _ = write!(
                self.html,
                "<div class=\"fact {}\" data-fact=\"{}\"><b>{}</b>{}</div>",
                esc(class),
                esc(label),
                esc(value),
                esc(label)
            );
        }
        self.html.push_str("</div>\n");
    }

    /// A chart (or any markup that [`chart`] built, its texts already escaped).
    pub fn chart(&mut self, svg: String) {
        self.html.push_str(&svg);
    }

    /// Charts side by side, wrapping on a narrow window.
    #[cfg_attr(not(feature = "servers"), allow(dead_code))] // the demo's histograms
    pub fn row(&mut self, charts: impl IntoIterator<Item = String>) {
        self.html.push_str("<div class=\"row\">");
        for c in charts {
            self.html.push_str(&c);
        }
        self.html.push_str("</div>\n");
    }

    /// A table; every header and cell is escaped.
    pub fn table(&mut self, id: &str, headers: &[&str], rows: &[Vec<String>]) {
        let _ = write!(self.html, "<table id=\"{}\"><tr>", esc(id));
        for h in headers {
            let _ = write!(self.html, "<th>{}</th>", esc(h));
        }
        self.html.push_str("</tr>\n");
        for row in rows {
            self.html.push_str("<tr>");
            for cell in row {
                let _ = write!(self.html, "<td>{}</td>", esc(cell));
            }
            self.html.push_str("</tr>\n");
        }
        self.html.push_str("</table>\n");
    }

    /// The finished document.
    pub fn finish(mut self) -> String {
        self.html.push_str("</body></html>\n");
        self.html
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let mut p = Page::new("t<1>");
        p.heading("h&");
        p.para("", "<script>");
        p.table("t", &["<th>"], &[vec!["<td>".into()]]);
        p.facts("f", &[("a<", "<b>".into(), "ok")]);
        let html = p.finish();
        assert!(
            !html.contains("<script>") && !html.contains("<td><td>") && !html.contains("<b><b>")
        );
        assert!(html.contains("t&lt;1&gt;") && html.contains("h&amp;"));
    }
}
