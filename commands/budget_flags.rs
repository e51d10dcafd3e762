//! The budget flags that `keys`, `users` and `teams` share on `create`
//! (`--budget`, `--budget-window`, `--budget-soft`) and on `update` (those
//! and `--no-budget`), parsed into one [`BudgetChange`].

use tokctl::identity::budget_set::BudgetChange;

use crate::Failure;

/// Budget flags of `create` (flattened into each command that takes them).
#[derive(Debug, Clone, clap::Args)]
pub struct BudgetArgs {
    /// Spend budget per window, in the ledger's currency (e.g. 50, 0.50, 12.345); requests
    /// that would pass it are refused with 429 budget_exceeded.
    #[arg(long, value_name = "AMOUNT", allow_hyphen_values = true)]
    pub budget: Option<String>,
    /// When the budget's spend resets: daily, weekly, monthly (calendar, in budgets.timezone)
    /// or a duration counted from when the budget is set (30d, 12h) [default: monthly].
    #[arg(long, value_name = "WINDOW", allow_hyphen_values = true)]
    pub budget_window: Option<String>,
    /// Soft threshold: percent of the budget (1-100) at which an event is raised once per
    /// window; '' removes it.
    #[arg(long, value_name = "PERCENT", allow_hyphen_values = true)]
    pub budget_soft: Option<String>,
}

impl BudgetArgs {
    /// The flags of `create`: a window or soft threshold needs `--budget`.
    pub fn on_create(&self) -> Result<BudgetChange, Failure> {
        self.parse(false, true)
    }

    fn parse(&self, clear: bool, creating: bool) -> Result<BudgetChange, Failure> {
        Ok(BudgetChange::parse(
            self.budget.as_deref(),
            self.budget_window.as_deref(),
            self.budget_soft.as_deref(),
            clear,
            creating,
        )?)
    }
}

/// Budget flags of `update`: those of `create` (which then change the
/// budget already set, if only the window or threshold is given) and
/// `--no-budget`.
#[derive(Debug, Clone, clap::Args)]
pub struct BudgetUpdateArgs {
    #[command(flatten)]
    pub set: BudgetArgs,
    /// Remove the budget.
    #[arg(long, conflicts_with_all = ["budget", "budget_window", "budget_soft"])]
    pub no_budget: bool,
}

impl BudgetUpdateArgs {
    pub fn change(&self) -> Result<BudgetChange, Failure> {
        self.set.parse(self.no_budget, false)
    }
}
