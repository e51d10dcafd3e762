//! Error helpers shared by the library and the binary.

/// An error and its sources on one line. Libraries such as reqwest keep the
/// useful part ("connection refused") in a source, not in the outer message.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
}
