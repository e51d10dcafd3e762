//! What `log.level` means to the tracing subscriber. Here rather than in
//! telemetry, so that validating the config needs nothing from telemetry.

use super::LogConfig;

impl LogConfig {
    /// The tracing filter `level` stands for. A bare level applies to
    /// tokctl and keeps dependencies one step quieter, so `debug` shows the
    /// gateway's own debug lines without sqlx's chatter; anything else is
    /// a filter expression, used as written.
    pub fn filter(&self) -> String {
        let l = self.level.trim().to_ascii_lowercase();
        match l.as_str() {
            "trace" | "debug" => format!("warn,tokctl={l},tower_http={l}"),
            "info" | "warn" | "error" | "off" => format!("{l},sqlx=warn"),
            _ => self.level.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_level_keeps_dependencies_quieter_and_an_expression_passes_through() {
        let filter = |level: &str| {
            LogConfig {
                level: level.into(),
                ..Default::default()
            }
            .filter()
        };
        assert_eq!(filter("DEBUG"), "warn,tokctl=debug,tower_http=debug");
        assert_eq!(filter("info"), "info,sqlx=warn");
        assert_eq!(filter("tokctl=trace,hyper=info"), "tokctl=trace,hyper=info");
    }
}
