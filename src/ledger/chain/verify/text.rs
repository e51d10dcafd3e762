//! What a [`Report`] found, in words: the gaps, the rows inserted outside
//! every chain, the baseline, and the verdict, one line each. (The table
//! of chains is the caller's; JSON is the report serialised.)

use std::fmt::Write;

use super::Report;

impl Report {
    /// The lines under the table of chains, each ending in a newline.
    pub fn findings(&self) -> String {
        let mut o = String::new();
        for c in &self.chains {
            for g in &c.gaps {
                let _ = writeln!(
                    o,
                    "gap: chain {} entry {} ({})",
                    c.instance_id, g.seq, g.reason
                );
            }
        }
        if self.unchained_rows > 0 {
            let _ = writeln!(
                o,
                "inserted: {} rows outside every chain that the baseline does not account for (first: {})",
                self.unchained_rows,
                self.first_unchained
                    .as_deref()
                    .unwrap_or("not one row: more of them than the baseline")
            );
        }
        match &self.baseline {
            Some(b) => {
                let _ = writeln!(
                    o,
                    "before the chains: {} rows outside every chain (baseline {} rows up to id {})",
                    self.pre_chain_rows,
                    b.rows,
                    b.max_id.map_or("-".to_string(), |m| m.to_string())
                );
            }
            None if !self.chains.is_empty() => {
                o.push_str(
                    "no baseline holds: rows outside every chain were counted by time since the first chain began\n",
                );
            }
            None => {}
        }
        o.push_str(if self.is_intact() {
            "chains intact\n"
        } else {
            "TAMPERING DETECTED\n"
        });
        o
    }
}

#[cfg(test)]
mod tests {
    use super::super::Baseline;
    use super::*;

    #[test]
    fn an_empty_ledger_is_intact_and_says_so_alone() {
        let r = Report {
            chains: Vec::new(),
            unchained_rows: 0,
            first_unchained: None,
            pre_chain_rows: 0,
            baseline: None,
        };
        assert_eq!(r.findings(), "chains intact\n");
    }

    #[test]
    fn inserted_rows_name_the_first_and_fail() {
        let r = Report {
            chains: Vec::new(),
            unchained_rows: 2,
            first_unchained: Some("req-9".into()),
            pre_chain_rows: 5,
            baseline: Some(Baseline {
                rows: 5,
                max_id: Some(40),
            }),
        };
        assert_eq!(
            r.findings(),
            "inserted: 2 rows outside every chain that the baseline does not account for (first: req-9)\n\
             before the chains: 5 rows outside every chain (baseline 5 rows up to id 40)\n\
             TAMPERING DETECTED\n"
        );
    }
}
