//! Prices and the one formula that turns tokens into cost.
//!
//! Prices are configured per million tokens in the ledger currency. They are
//! turned once into integer nano-units per million tokens, and an entry's
//! cost is
//!
//! ```text
//! cost_nano = round_half_up( ( input × p_input + cached_input × p_cached
//!                            + cache_write × p_cache_write + output × p_output ) / 1,000,000 )
//! ```
//!
//! with every `p` in nano-units per million tokens. Reasoning tokens are a
//! part of output and priced as output. The cost is computed when the entry
//! is recorded and stored as an integer, so a later price change never
//! rewrites history, and it is rounded once per entry.

use crate::config::ModelConfig;
use crate::ledger::Usage;

/// A model's prices in nano-units of the currency per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prices {
    pub input: i128,
    pub cached_input: i128,
    pub cache_write: i128,
    pub output: i128,
}

impl Prices {
    pub fn from_model(m: &ModelConfig) -> Self {
        let nano = |p: f64| (p * 1e9).round() as i128;
        Self {
            input: nano(m.input_price()),
            cached_input: nano(m.cached_input_price()),
            cache_write: nano(m.cache_write_price()),
            output: nano(m.output_price()),
        }
    }

    /// The cost of `u` in nano-units, rounded half-up once.
    pub fn cost_nano(&self, u: &Usage) -> i64 {
        let total = i128::from(u.input_tokens.max(0)) * self.input
            + i128::from(u.cached_input_tokens.max(0)) * self.cached_input
            + i128::from(u.cache_write_tokens.max(0)) * self.cache_write
            + i128::from(u.output_tokens.max(0)) * self.output;
        let rounded = (total + 500_000) / 1_000_000;
        i64::try_from(rounded).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_is_integer_nano_rounded_half_up_once() {
        let p = Prices {
            input: 150_000_000, // 0.15 per Mtok
            cached_input: 75_000_000,
            cache_write: 0,
            output: 600_000_000,
        };
        // 1 input token = 0.15e-6 units = 150 nano; exact.
        let u = Usage {
            input_tokens: 1,
            ..Default::default()
        };
        assert_eq!(p.cost_nano(&u), 150);
        // 1 cached token = 75 nano; 3 output = 1800 nano.
        let u = Usage {
            input_tokens: 10,
            cached_input_tokens: 1,
            output_tokens: 3,
            ..Default::default()
        };
        assert_eq!(p.cost_nano(&u), 1500 + 75 + 1800);
        // Half a nano rounds up: price 0.5 nano per token.
        let half = Prices {
            input: 500_000,
            ..Default::default()
        };
        assert_eq!(
            half.cost_nano(&Usage {
                input_tokens: 1,
                ..Default::default()
            }),
            1
        );
        assert_eq!(
            half.cost_nano(&Usage {
                input_tokens: 3,
                ..Default::default()
            }),
            2
        );
    }
}
