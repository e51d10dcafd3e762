//! The per-request cost of the model allow-list check (#34): a key, a user
//! and a team list compiled once, then checked against allowed and refused
//! model names, as the gateway does after auth. Prints ns per check.

use std::hint::black_box;
use std::time::Instant;

use tokctl::identity::access::ModelAccess;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("model_access: a benchmark; run it with `cargo bench --bench model_access`");
        return;
    }
    let cases = [
        ("one exact list", (Some("gpt-4o-mini"), None, None)),
        ("one prefix list", (Some("gpt-*"), None, None)),
        (
            "key, user and team lists",
            (
                Some("gpt-*,claude-*"),
                Some("*-mini,claude-3-5-haiku"),
                Some("gpt-4o*,c?aude-*-haiku"),
            ),
        ),
    ];
    let models = ["gpt-4o-mini", "claude-3-5-haiku", "gpt-4o", "o1-pro"];
    let rounds = 5_000_000usize;
    for (name, (key, user, team)) in cases {
        let Some(access) = ModelAccess::compile(key, user, team) else {
            continue;
        };
        let start = Instant::now();
        let mut allowed = 0usize;
        for i in 0..rounds {
            allowed += usize::from(black_box(&access).allows(black_box(models[i % models.len()])));
        }
        let ns = start.elapsed().as_nanos() as f64 / rounds as f64;
        println!("{name:<26} {ns:6.1} ns per check ({allowed} of {rounds} allowed)");
    }
}
