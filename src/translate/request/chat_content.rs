//! OpenAI message content (a string or parts) as Anthropic blocks: text
//! (with a `cache_control` mark carried over), images as base64 or URL
//! sources; parts Anthropic has no block for are dropped and listed.

use std::borrow::Cow;

use crate::translate::anthropic::{Block, Source};
use crate::translate::de::{StrOr, data_url};
use crate::translate::openai::{self as o, Part};
use crate::translate::{Dropped, TranslateError};

/// OpenAI content (a string or parts) as Anthropic blocks. Empty text is
/// left out: Anthropic refuses empty text blocks.
pub(super) fn blocks<'a>(
    content: Option<o::Content<'a>>,
    i: usize,
    dropped: &mut Dropped,
) -> Result<Vec<Block<'a>>, TranslateError> {
    let parts: Vec<Part<'a>> = match content {
        None => return Ok(Vec::new()),
        Some(StrOr::Str(s)) if s.is_empty() => return Ok(Vec::new()),
        Some(StrOr::Str(s)) => return Ok(vec![Block::text(s)]),
        Some(StrOr::Val(p)) => p,
    };
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        match p.kind.as_ref() {
            "text" => {
                if let Some(t) = p.text.filter(|t| !t.is_empty()) {
                    let mut b = Block::text(t);
                    b.cache_control = p.cache_control;
                    out.push(b);
                }
            }
            "refusal" => out.extend(p.refusal.map(Block::text)),
            "image_url" => {
                let img = p.image_url.ok_or_else(|| {
                    TranslateError::invalid(
                        format!("messages[{i}].content[].image_url"),
                        "an image_url part needs an image_url object with a url",
                    )
                })?;
                if img.detail.is_some() {
                    dropped.push("image_url.detail");
                }
                out.push(Block {
                    kind: Cow::Borrowed("image"),
                    source: Some(image_source(img.url, i)?),
                    cache_control: p.cache_control,
                    ..Block::default()
                });
            }
            other => dropped.push(format!("messages[].content[].{other}")),
        }
    }
    Ok(out)
}

/// An image URL as Anthropic's source: `base64` for a data URL, `url`
/// otherwise (Anthropic fetches it).
fn image_source(url: Cow<'_, str>, i: usize) -> Result<Source<'_>, TranslateError> {
    if !url.starts_with("data:") {
        return Ok(Source {
            kind: Cow::Borrowed("url"),
            media_type: None,
            data: None,
            url: Some(url),
        });
    }
    let bad = || {
        TranslateError::invalid(
            format!("messages[{i}].content[].image_url.url"),
            "a data: URL image must be base64 (data:<media type>;base64,<data>)",
        )
    };
    let (media, data) = match url {
        Cow::Borrowed(u) => {
            let (m, d) = data_url(u).ok_or_else(bad)?;
            (Cow::Borrowed(m), Cow::Borrowed(d))
        }
        Cow::Owned(u) => {
            let (m, d) = data_url(&u).ok_or_else(bad)?;
            (Cow::Owned(m.to_owned()), Cow::Owned(d.to_owned()))
        }
    };
    Ok(Source {
        kind: Cow::Borrowed("base64"),
        media_type: Some(media),
        data: Some(data),
        url: None,
    })
}
