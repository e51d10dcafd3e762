//! Model access: allow-lists of model-name globs on keys, users and teams
//! (#34), and the check the gateway makes with them after auth.
//!
//! A list is comma-separated globs where `*` matches any run of characters
//! and `?` one character (`claude-*,gpt-4o`); an empty list, or none, means
//! no restriction at that level. A request may use a model when every
//! non-empty list of its key, its user and the user's team allows it (the
//! intersection). Lists are compiled once, when the identity is loaded into
//! the auth cache ([`ModelAccess::compile`]), so the per-request check is a
//! few string comparisons and never allocates.
//!
//! Holds no I/O; the lists are stored as text in `api_keys.models`,
//! `users.models` and `teams.models` (see [`super::store`]).

use std::sync::Arc;

use super::IdentityError;

/// A level of identity a setting hangs on: the key, its user, the user's
/// team. Here, which level's list refused a model (a metrics label and
/// part of the message the client gets); budgets are set on the same
/// levels (`crate::budget`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Key,
    User,
    Team,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Key => "key",
            Scope::User => "user",
            Scope::Team => "team",
        }
    }
}

/// One compiled glob. The common shapes (a plain name, `prefix-*`, `*`)
/// get a comparison of their own; anything else is matched by
/// [`wildcard`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Glob {
    Exact(String),
    Prefix(String),
    Any,
    Wild(String),
}

impl Glob {
    fn compile(text: &str) -> Glob {
        let wild = |c: char| c == '*' || c == '?';
        match text.find(wild) {
            None => Glob::Exact(text.to_string()),
            Some(_) if text == "*" => Glob::Any,
            Some(i) if i == text.len() - 1 && text.ends_with('*') => {
                Glob::Prefix(text[..i].to_string())
            }
            Some(_) => Glob::Wild(text.to_string()),
        }
    }

    fn matches(&self, model: &str) -> bool {
        match self {
            Glob::Exact(s) => s == model,
            Glob::Prefix(p) => model.starts_with(p.as_str()),
            Glob::Any => true,
            Glob::Wild(p) => wildcard(p.as_bytes(), model.as_bytes()),
        }
    }
}

/// `*` and `?` matching over bytes (`?` is one byte: model names are
/// ASCII in practice), the linear greedy algorithm that backtracks only
/// to the last `*`.
fn wildcard(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// A parsed, compiled allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList {
    globs: Vec<(String, Glob)>,
}

impl AllowList {
    /// Parses a list as given on the command line: comma-separated globs,
    /// spaces around them ignored. Empty text is `None` (no restriction).
    /// Only `*` and `?` are wildcards; other glob syntax is refused rather
    /// than taken literally, so `gpt-[34]o` does not silently match nothing.
    pub fn parse(text: &str) -> Result<Option<AllowList>, IdentityError> {
        let bad = |reason: String| IdentityError::InvalidModels {
            text: text.to_string(),
            reason,
        };
        let mut globs = Vec::new();
        for item in text.split(',').map(str::trim) {
            if item.is_empty() {
                if text.trim().is_empty() {
                    continue;
                }
                return Err(bad("an empty entry between commas".into()));
            }
            if let Some(c) = item
                .chars()
                .find(|c| c.is_whitespace() || c.is_control() || "[]{}!\\".contains(*c))
            {
                return Err(bad(format!(
                    "`{item}` contains {c:?}; globs take `*` (any characters) and `?` (one character) only"
                )));
            }
            if item.len() > 256 {
                return Err(bad(format!("`{item}` is longer than 256 bytes")));
            }
            if !globs.iter().any(|(g, _)| g == item) {
                globs.push((item.to_string(), Glob::compile(item)));
            }
        }
        Ok((!globs.is_empty()).then_some(AllowList { globs }))
    }

    /// A list as stored; never fails (stored text was checked when written,
    /// and an entry a later binary might add that this one cannot read is
    /// kept literally, so it matches only that exact name: fail closed).
    pub fn from_stored(text: &str) -> Option<AllowList> {
        let globs: Vec<(String, Glob)> = text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| (s.to_string(), Glob::compile(s)))
            .collect();
        (!globs.is_empty()).then_some(AllowList { globs })
    }

    /// The text stored and shown: the globs joined by commas.
    pub fn to_text(&self) -> String {
        let names: Vec<&str> = self.globs.iter().map(|(g, _)| g.as_str()).collect();
        names.join(",")
    }

    pub fn allows(&self, model: &str) -> bool {
        self.globs.iter().any(|(_, g)| g.matches(model))
    }

    /// The globs that match none of `models` (for the CLI's warning: such a
    /// glob is most likely a typo).
    pub fn unmatched<'a>(&'a self, models: &[String]) -> Vec<&'a str> {
        self.globs
            .iter()
            .filter(|(_, g)| !models.iter().any(|m| g.matches(m)))
            .map(|(s, _)| s.as_str())
            .collect()
    }
}

/// Text for `--models` as a command stores it: `None` leaves the list
/// as it is, `Some("")` clears it, anything else replaces it. Parsed and
/// checked here so that a command fails before touching the database.
pub fn parse_flag(text: Option<&str>) -> Result<Option<Option<AllowList>>, IdentityError> {
    text.map(AllowList::parse).transpose()
}

/// What one request's identity may use: the non-empty lists of its key,
/// user and team. Built once per cache fill; shared by every request of
/// the key through an `Arc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelAccess {
    lists: Vec<(Scope, AllowList)>,
}

impl ModelAccess {
    /// The access of stored lists; `None` when none restricts anything (the
    /// common case, which then costs the request path nothing).
    pub fn compile(
        key: Option<&str>,
        user: Option<&str>,
        team: Option<&str>,
    ) -> Option<Arc<ModelAccess>> {
        let lists: Vec<(Scope, AllowList)> =
            [(Scope::Key, key), (Scope::User, user), (Scope::Team, team)]
                .into_iter()
                .filter_map(|(scope, text)| Some((scope, AllowList::from_stored(text?)?)))
                .collect();
        (!lists.is_empty()).then(|| Arc::new(ModelAccess { lists }))
    }

    /// `Ok` when every list allows `model`, else the first scope (key, then
    /// user, then team) whose list does not.
    pub fn check(&self, model: &str) -> Result<(), Scope> {
        match self.lists.iter().find(|(_, l)| !l.allows(model)) {
            Some((scope, _)) => Err(*scope),
            None => Ok(()),
        }
    }

    pub fn allows(&self, model: &str) -> bool {
        self.check(model).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(t: &str) -> AllowList {
        AllowList::parse(t).ok().flatten().expect("a list")
    }

    #[test]
    fn globs_match_like_shell_globs() {
        let l = list("claude-*, gpt-4o ,*-mini,o?-pro,a*b*c");
        for yes in [
            "claude-sonnet-4",
            "claude-",
            "gpt-4o",
            "gpt-4o-mini",
            "o1-pro",
            "abc",
            "aXbYc",
            "abbc",
        ] {
            assert!(l.allows(yes), "{yes}");
        }
        for no in ["gpt-4", "gpt-4o-max", "o10-pro", "claud", "ab", "acb"] {
            assert!(!l.allows(no), "{no}");
        }
        assert!(list("*").allows("anything"));
        assert_eq!(list("a,b,a").to_text(), "a,b");
    }

    #[test]
    fn bad_lists_name_the_entry() {
        assert_eq!(AllowList::parse("").ok(), Some(None));
        assert_eq!(AllowList::parse("  ").ok(), Some(None));
        for bad in ["a,,b", "gpt-[34]o", "a b", "x,{y}"] {
            let e = AllowList::parse(bad).map(|_| ()).map_err(|e| e.to_string());
            assert!(e.as_ref().is_err_and(|m| m.contains(bad)), "{bad}: {e:?}");
        }
    }

    #[test]
    fn the_intersection_of_non_empty_lists_applies() {
        assert!(ModelAccess::compile(None, Some(""), None).is_none());
        let a = ModelAccess::compile(Some("gpt-*"), Some("*-mini"), None).expect("restricted");
        assert_eq!(a.check("gpt-4o-mini"), Ok(()));
        assert_eq!(a.check("gpt-4o"), Err(Scope::User));
        assert_eq!(a.check("claude-3-5-haiku"), Err(Scope::Key));
        let t = ModelAccess::compile(None, None, Some("claude-*")).expect("restricted");
        assert_eq!(t.check("gpt-4o"), Err(Scope::Team));
    }

    #[test]
    fn unmatched_globs_are_reported() {
        let models = vec!["gpt-4o".to_string(), "claude-sonnet-4".to_string()];
        assert_eq!(
            list("gpt-*,lama-*,claude-sonnet-4").unmatched(&models),
            vec!["lama-*"]
        );
    }
}
