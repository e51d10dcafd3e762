//! `teams list` and `teams show` as a table, JSON or CSV (raw values).

use std::process::ExitCode;

use tokctl::identity::teams::{TeamDetail, TeamInfo};

use crate::CmdResult;
use crate::listings::{BUDGET_CSV, budget_csv, budget_or};
use crate::output::{self, Listing, Report};
use crate::render::{Col, Tab, int, time_us};

/// No list: any model.
const ANY: &str = "any";

/// `teams list` in the chosen format.
pub fn list(teams: &[TeamInfo], format: Listing) -> CmdResult {
    match format {
        Listing::Table => output::print(&table(teams).to_string())?,
        Listing::Json => output::json(teams)?,
        Listing::Csv => output::csv(
            &[
                "id",
                "name",
                "members",
                "models",
                "created_at_us",
                BUDGET_CSV[0],
                BUDGET_CSV[1],
                BUDGET_CSV[2],
                BUDGET_CSV[3],
            ],
            teams.iter().map(|t| {
                let row = [
                    t.id.to_string(),
                    t.name.clone(),
                    t.members.to_string(),
                    t.models.clone().unwrap_or_default(),
                    t.created_at_us.to_string(),
                ];
                row.into_iter().chain(budget_csv(&t.budget))
            }),
        )?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The table of teams.
pub fn table(teams: &[TeamInfo]) -> Tab {
    let mut t = Tab::new(&[
        ("id", Col::Num),
        ("name", Col::Atom),
        ("members", Col::Num),
        ("models", Col::Text),
        ("budget", Col::Text),
        ("created at", Col::Atom),
    ]);
    for team in teams {
        t.row([
            int(team.id),
            team.name.clone(),
            int(team.members),
            team.models.clone().unwrap_or_else(|| ANY.into()),
            budget_or(&team.budget, "-"),
            time_us(Some(team.created_at_us)),
        ]);
    }
    t
}

/// `teams show`: the team, then its members one per line.
pub fn show(d: &TeamDetail, format: Report) -> CmdResult {
    match format {
        Report::Json => output::json(d)?,
        Report::Table => {
            let t = &d.team;
            let mut text = format!(
                "team     {} (id {})\nmodels   {}\nbudget   {}\ncreated  {}\nmembers  {}",
                t.name,
                t.id,
                t.models.as_deref().unwrap_or(ANY),
                budget_or(&t.budget, "none"),
                time_us(Some(t.created_at_us)),
                t.members
            );
            for m in &d.member_names {
                text.push_str("\n  ");
                text.push_str(m);
            }
            output::print(&text)?
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At 80 columns a row stays on one line: a long list is shortened,
    /// never the name or the time.
    #[test]
    fn teams_at_80_columns() {
        let teams = [TeamInfo {
            id: 12,
            name: "platform-research".into(),
            models: Some("claude-*,gpt-4o,gpt-4o-mini,o1-*,text-embedding-3-*,gemini-*".repeat(2)),
            created_at_us: 1_795_395_600_000_000,
            members: 1234,
            budget: Default::default(),
        }];
        let out = table(&teams).width(80).to_string();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 5, "{out}");
        let time = time_us(Some(teams[0].created_at_us));
        for whole in ["platform-research", "1,234", time.as_str()] {
            assert!(lines.iter().any(|l| l.contains(whole)), "`{whole}`:\n{out}");
        }
    }
}
