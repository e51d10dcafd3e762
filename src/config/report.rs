//! Config errors in words: which key, what form it expects, what it got.
//!
//! serde and toml speak of Rust types (`invalid type: string "1s", expected
//! u64`) and of the table a field was missing from; an operator reads keys
//! and units. This module rewrites their messages, finds the key a file
//! error points at (its `[section]` and the `key =` on the line), and
//! rewrites `*_ms` values written with a unit in a file's text so that its
//! line numbers stay true.

/// `expected ..., got ...` in words for a serde type or value error about
/// `key`; other messages are returned unchanged.
pub fn in_words(key: &str, message: &str) -> String {
    let m = message.trim();
    if let Some(rest) = m.strip_prefix("unknown variant ")
        && let Some((got, expected)) = rest.split_once(", expected ")
    {
        let choices = expected.replace(" or ", ", ");
        return format!("expected one of {choices}, got {got}");
    }
    let Some(rest) = m
        .strip_prefix("invalid type: ")
        .or_else(|| m.strip_prefix("invalid value: "))
    else {
        return m.to_string();
    };
    let Some((got, expected)) = rest.rsplit_once(", expected ") else {
        return m.to_string();
    };
    format!(
        "expected {}, got {}",
        expected_words(key, expected),
        got_words(got)
    )
}

fn expected_words(key: &str, expected: &str) -> String {
    let last = key.rsplit('.').next().unwrap_or(key);
    let whole = matches!(expected, "u64" | "u32" | "u16" | "u8" | "usize");
    if whole && last.ends_with("_ms") {
        return "milliseconds as an integer, or a duration such as \"1s\" or \"250ms\"".into();
    }
    if whole && last.ends_with("_bytes") {
        return "a number of bytes as a whole number".into();
    }
    match expected {
        _ if whole => "a whole number (0 or more)".into(),
        "i64" | "i32" => "a whole number".into(),
        "f64" | "f32" => "a number".into(),
        "a boolean" => "true or false".into(),
        "a string" => "text in quotes".into(),
        "a sequence" => "a list such as [\"a\", \"b\"]".into(),
        other => other.to_string(),
    }
}

fn got_words(got: &str) -> String {
    let inner = |p: &str| got.strip_prefix(p).map(|v| v.trim_matches('`').to_string());
    if let Some(s) = got.strip_prefix("string ") {
        format!("the string {s}")
    } else if let Some(v) = inner("integer ") {
        format!("the number {v}")
    } else if let Some(v) = inner("floating point ") {
        format!("the number {v}")
    } else if let Some(v) = inner("boolean ") {
        v
    } else if got == "sequence" {
        "a list".into()
    } else if got == "map" {
        "a table".into()
    } else {
        got.to_string()
    }
}

/// The full key a file error on 1-based `line` is about: a `[table]`
/// header on that line names itself (so an unknown section after another
/// is not taken for a key of it); else the `key =` on the line within the
/// section in force.
pub fn key_at(text: &str, line: usize, field: Option<&str>) -> String {
    let here = text
        .lines()
        .nth(line.saturating_sub(1))
        .unwrap_or("")
        .trim();
    if let Some(h) = header(here) {
        let parts: Vec<&str> = h.split('.').map(|p| p.trim().trim_matches('"')).collect();
        let upto = field
            .and_then(|f| parts.iter().position(|p| *p == f))
            .map_or(parts.len(), |i| i + 1);
        return parts[..upto].join(".");
    }
    let section = section_before(text, line);
    let key = field.map(str::to_string).or_else(|| {
        here.split_once('=')
            .map(|(k, _)| k.trim().trim_matches('"').to_string())
    });
    match (section.is_empty(), key) {
        (_, None) => section,
        (true, Some(k)) => k,
        (false, Some(k)) => format!("{section}.{k}"),
    }
}

fn header(line: &str) -> Option<&str> {
    let inner = line
        .strip_prefix("[[")
        .and_then(|r| r.split_once("]]").map(|(h, _)| h));
    inner
        .or_else(|| {
            line.strip_prefix('[')
                .and_then(|r| r.split_once(']').map(|(h, _)| h))
        })
        .map(str::trim)
}

/// The `[table]` header in force before a 1-based line.
fn section_before(text: &str, line: usize) -> String {
    text.lines()
        .take(line.saturating_sub(1))
        .filter_map(|l| header(l.trim()))
        .last()
        .map(|s| s.replace('"', ""))
        .unwrap_or_default()
}

/// The file's text with every `*_ms = "1s"` rewritten as whole
/// milliseconds, one value in place, so lines do not move; unchanged when
/// the text does not parse (the caller reports that).
pub fn normalize_ms_text(text: &str) -> String {
    let Ok(mut doc) = text.parse::<toml_edit::DocumentMut>() else {
        return text.to_string();
    };
    let mut changed = false;
    walk(doc.as_item_mut(), &mut changed);
    if changed {
        doc.to_string()
    } else {
        text.to_string()
    }
}

fn walk(item: &mut toml_edit::Item, changed: &mut bool) {
    use toml_edit::{Item, Value};
    match item {
        Item::Table(t) => {
            for (k, v) in t.iter_mut() {
                if k.ends_with("_ms")
                    && let Some(ms) = v.as_str().and_then(super::duration::string_to_ms)
                {
                    let decor = v.as_value().map(|v| v.decor().clone());
                    let mut new = Value::from(ms);
                    if let Some(d) = decor {
                        *new.decor_mut() = d;
                    }
                    *v = Item::Value(new);
                    *changed = true;
                } else {
                    walk(v, changed);
                }
            }
        }
        Item::ArrayOfTables(a) => {
            for t in a.iter_mut() {
                for (k, v) in t.iter_mut() {
                    if k.ends_with("_ms")
                        && let Some(ms) = v.as_str().and_then(super::duration::string_to_ms)
                    {
                        *v = Item::Value(Value::from(ms));
                        *changed = true;
                    } else {
                        walk(v, changed);
                    }
                }
            }
        }
        Item::Value(Value::InlineTable(t)) => {
            for (k, v) in t.iter_mut() {
                if k.ends_with("_ms")
                    && let Some(ms) = v.as_str().and_then(super::duration::string_to_ms)
                {
                    *v = Value::from(ms);
                    *changed = true;
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_errors_in_words() {
        assert_eq!(
            in_words(
                "ledger.async.flush_ms",
                "invalid type: string \"fast\", expected u64"
            ),
            "expected milliseconds as an integer, or a duration such as \"1s\" or \"250ms\", \
             got the string \"fast\""
        );
        assert_eq!(
            in_words(
                "ledger.async.batch_size",
                "invalid type: string \"10\", expected usize"
            ),
            "expected a whole number (0 or more), got the string \"10\""
        );
        assert_eq!(
            in_words(
                "auth.enabled",
                "invalid type: integer `1`, expected a boolean"
            ),
            "expected true or false, got the number 1"
        );
        assert_eq!(in_words("x", "something else"), "something else");
        assert_eq!(
            in_words(
                "ledger.async.on_full",
                "unknown variant `wait`, expected `block` or `drop`"
            ),
            "expected one of `block`, `drop`, got `wait`"
        );
    }

    #[test]
    fn keys_at_lines() {
        let text =
            "[identity]\npath = \"x\"\n\n[bogus]\nfoo = 1\n[ledger.async]\nflush_ms = \"x\"\n";
        assert_eq!(key_at(text, 4, Some("bogus")), "bogus");
        assert_eq!(key_at(text, 2, Some("pathh")), "identity.pathh");
        assert_eq!(key_at(text, 7, None), "ledger.async.flush_ms");
        assert_eq!(
            key_at("[ledger.bogus.x]\n", 1, Some("bogus")),
            "ledger.bogus"
        );
    }

    #[test]
    fn ms_values_with_units_keep_their_lines() {
        let text = "# c\n[ledger.async]\nflush_ms = \"2s\" # two\nbatch_size = 3\n";
        let out = normalize_ms_text(text);
        assert_eq!(
            out,
            "# c\n[ledger.async]\nflush_ms = 2000 # two\nbatch_size = 3\n"
        );
    }
}
