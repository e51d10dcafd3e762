//! Server-sent events as they arrive: [`Splitter`] cuts a byte stream into
//! complete events whatever the chunking, without copying events that
//! arrive whole, and [`data`] finds an event's `data:` payload.

/// Cuts a stream of bytes into events (each ends with a blank line, `\n\n`
/// or `\r\n\r\n`). Only an unfinished tail is kept between chunks.
#[derive(Debug, Default)]
pub struct Splitter {
    tail: Vec<u8>,
}

impl Splitter {
    /// Calls `f` with each event completed by `chunk`, in order.
    pub fn feed(&mut self, chunk: &[u8], mut f: impl FnMut(&[u8])) {
        if self.tail.is_empty() {
            let used = split(chunk, &mut f);
            self.tail.extend_from_slice(&chunk[used..]);
            return;
        }
        // An event was cut: join it with what follows (a blank line may
        // straddle the two pieces).
        self.tail.extend_from_slice(chunk);
        let used = split(&self.tail, &mut f);
        self.tail.drain(..used);
    }

    /// What is left when the stream ends: an event without its blank line.
    pub fn finish(&mut self, mut f: impl FnMut(&[u8])) {
        let tail = std::mem::take(&mut self.tail);
        if tail.iter().any(|b| !b.is_ascii_whitespace()) {
            f(&tail);
        }
    }
}

/// Calls `f` with each complete event of `buf`; returns the bytes used.
fn split(buf: &[u8], f: &mut impl FnMut(&[u8])) -> usize {
    let mut start = 0;
    let mut i = 0;
    while let Some(p) = memchr_nl(&buf[i..]) {
        let nl = i + p;
        // A blank line: "\n\n" or "\n\r\n".
        let end = match buf.get(nl + 1) {
            Some(b'\n') => Some(nl + 2),
            Some(b'\r') if buf.get(nl + 2) == Some(&b'\n') => Some(nl + 3),
            Some(_) => None,
            None => break,
        };
        match end {
            Some(e) => {
                f(&buf[start..nl]);
                start = e;
                i = e;
            }
            None => i = nl + 1,
        }
    }
    start
}

fn memchr_nl(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|b| *b == b'\n')
}

/// The `data:` payload of one event; several `data:` lines are joined with
/// `\n` as the SSE format says (LLM APIs send one).
pub fn data(event: &[u8]) -> Option<std::borrow::Cow<'_, [u8]>> {
    let mut found: Option<std::borrow::Cow<[u8]>> = None;
    for line in event.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(rest) = line.strip_prefix(b"data:") else {
            continue;
        };
        let rest = rest.strip_prefix(b" ").unwrap_or(rest);
        found = Some(match found {
            None => std::borrow::Cow::Borrowed(rest),
            Some(prev) => {
                let mut v = prev.into_owned();
                v.push(b'\n');
                v.extend_from_slice(rest);
                std::borrow::Cow::Owned(v)
            }
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events_of(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut s = Splitter::default();
        let mut out = Vec::new();
        for c in chunks {
            s.feed(c, |e| out.push(e.to_vec()));
        }
        s.finish(|e| out.push(e.to_vec()));
        out
    }

    #[test]
    fn events_are_found_whatever_the_chunking() {
        let stream = b"event: a\ndata: {\"x\":1}\n\ndata: 2\r\n\r\ndata: 3\n\n";
        let whole = events_of(&[stream]);
        assert_eq!(whole.len(), 3);
        for cut in 1..stream.len() {
            let (a, b) = stream.split_at(cut);
            let got = events_of(&[a, b]);
            let data: Vec<_> = got.iter().map(|e| data(e).unwrap().into_owned()).collect();
            assert_eq!(
                data,
                vec![b"{\"x\":1}".to_vec(), b"2".to_vec(), b"3".to_vec()],
                "cut at {cut}"
            );
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(events_of(&bytes).len(), 3);
    }

    #[test]
    fn an_unterminated_last_event_comes_out_at_the_end() {
        let got = events_of(&[b"data: 1\n\ndata: 2"]);
        assert_eq!(got, vec![b"data: 1".to_vec(), b"data: 2".to_vec()]);
    }

    #[test]
    fn multi_line_data_is_joined() {
        assert_eq!(data(b"data: a\ndata: b").unwrap().as_ref(), b"a\nb");
        assert!(data(b": comment").is_none());
    }
}
