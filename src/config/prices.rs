//! The prices a `[[models]]` entry bills at, with what a left-out price
//! means: input and output bill at 0 (and `config check` warns), cached
//! input and cache writes at the input price, everything at 0 when the
//! model is `free`. `crate::pricing` turns these into integer nano-units.

use super::ModelConfig;

impl ModelConfig {
    /// The price per million input tokens in effect (0 when free or unset).
    pub fn input_price(&self) -> f64 {
        self.priced(self.input_per_mtok)
    }

    /// Cached input tokens: their own price, else the input price.
    pub fn cached_input_price(&self) -> f64 {
        self.priced(self.cached_input_per_mtok.or(self.input_per_mtok))
    }

    /// Cache-write tokens: their own price, else the input price.
    pub fn cache_write_price(&self) -> f64 {
        self.priced(self.cache_write_per_mtok.or(self.input_per_mtok))
    }

    /// The price per million output tokens in effect (0 when free or unset).
    pub fn output_price(&self) -> f64 {
        self.priced(self.output_per_mtok)
    }

    fn priced(&self, p: Option<f64>) -> f64 {
        if self.free { 0.0 } else { p.unwrap_or(0.0) }
    }
}
