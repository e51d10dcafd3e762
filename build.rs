//! Rebuilds when a migration is added or edited: `sqlx::migrate!` embeds the
//! `migrations/` directory at compile time, and on stable Rust cargo does
//! not know it depends on those files, so a new migration would otherwise
//! be missing from an incremental build.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
