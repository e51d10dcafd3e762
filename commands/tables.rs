//! The tables of users, keys, migrations and health, built from library
//! values with the shared style and number formats of [`crate::render`];
//! one function per table so that the test below renders each (and those
//! of [`crate::tables_ledger`]) at 80 columns.

use comfy_table::{Cell, Color};
use tokctl::db::migrate::MigrationStatus;
use tokctl::identity::lifecycle::KeyState;
use tokctl::identity::{KeyInfo, UserInfo};
use tokctl::telemetry::health::{Report as HealthReport, Status};

use crate::listings::budget_or;
use crate::render::{Col, Tab, int, latency_ms, opt, time_us};

pub fn users(users: &[UserInfo]) -> Tab {
    let mut t = Tab::new(&[
        ("id", Col::Num),
        ("name", Col::Atom),
        ("status", Col::Atom),
        ("usable keys", Col::Num),
        ("team", Col::Atom),
        ("models", Col::Text),
        ("budget", Col::Text),
        ("created at", Col::Atom),
    ]);
    for u in users {
        t.row([
            int(u.id),
            u.name.clone(),
            if u.disabled { "disabled" } else { "active" }.to_string(),
            int(u.active_keys),
            u.team.clone().unwrap_or_else(|| "-".into()),
            u.models.clone().unwrap_or_else(|| "any".into()),
            budget_or(&u.budget, "-"),
            time_us(Some(u.created_at_us)),
        ]);
    }
    t
}

/// Keys with their state now and the time that goes with it: when an
/// active key expires, when a revoked or expired one stopped, when one in
/// its grace period stops.
pub fn keys(keys: &[KeyInfo], now_us: i64) -> Tab {
    let mut t = Tab::new(&[
        ("id", Col::Num),
        ("user", Col::Atom),
        ("name", Col::Text),
        ("prefix", Col::Atom),
        ("state", Col::Atom),
        ("since/until", Col::Atom),
        ("rps", Col::Num),
        ("burst", Col::Num),
        ("tpm", Col::Num),
        ("models", Col::Text),
        ("budget", Col::Text),
    ]);
    for k in keys {
        let state = KeyState::of(k, now_us);
        let (color, when) = match state {
            KeyState::Active => (Color::Reset, k.expires_at_us),
            KeyState::RevokedLater => (Color::Yellow, k.revoked_at_us),
            KeyState::Revoked => (Color::Red, k.revoked_at_us),
            KeyState::Expired => (Color::Red, k.expires_at_us),
        };
        t.cells([
            Cell::new(int(k.id)),
            Cell::new(&k.user_name),
            Cell::new(&k.name),
            Cell::new(&k.display_prefix),
            Cell::new(state.as_str()).fg(color),
            Cell::new(time_us(when)),
            Cell::new(opt(k.rps)),
            Cell::new(opt(k.burst.map(|b| int(b.into())))),
            Cell::new(opt(k.tokens_per_minute.map(int))),
            Cell::new(k.models.as_deref().unwrap_or("any")),
            Cell::new(budget_or(&k.budget, "-")),
        ]);
    }
    t
}

pub fn migrations(statuses: &[MigrationStatus]) -> Tab {
    let mut t = Tab::new(&[
        ("version", Col::Num),
        ("description", Col::Text),
        ("applied at", Col::Atom),
        ("state", Col::Atom),
    ]);
    for s in statuses {
        t.row([
            s.version.to_string(),
            s.description.clone(),
            s.applied_at.clone().unwrap_or_else(|| "-".into()),
            s.state.as_str().to_string(),
        ]);
    }
    t
}

pub fn health(r: &HealthReport) -> Tab {
    let mut t = Tab::new(&[
        ("component", Col::Atom),
        ("type", Col::Atom),
        ("status", Col::Atom),
        ("latency", Col::Num),
        ("message", Col::Text),
    ]);
    for c in &r.components {
        let color = match c.status {
            Status::Healthy => Color::Green,
            Status::Degraded => Color::Yellow,
            Status::Unhealthy => Color::Red,
        };
        t.cells([
            Cell::new(&c.name),
            Cell::new(&c.kind),
            Cell::new(c.status.as_str()).fg(color),
            Cell::new(c.latency_ms.map_or(String::new(), latency_ms)),
            Cell::new(&c.message),
        ]);
    }
    t
}

#[cfg(test)]
mod tests;
