//! Amounts, windows and thresholds as typed; the columns as shown and as
//! compiled into budgets.

use std::time::Duration;

use super::*;
use crate::identity::budget_set::BudgetChange;

#[test]
fn amounts_are_exact_nano() {
    for (text, nano) in [
        ("50", 50_000_000_000),
        ("0.50", 500_000_000),
        ("12.345", 12_345_000_000),
        (".1", 100_000_000),
        ("7.", 7_000_000_000),
        ("0", 0),
        ("0.000000001", 1),
        (" 1000000000 ", 1_000_000_000 * NANO_PER_UNIT),
    ] {
        assert_eq!(parse_amount(text).ok(), Some(nano), "{text}");
    }
}

#[test]
fn bad_amounts_name_the_flag_and_say_what_to_type() {
    for (text, says) in [
        ("-1", "cannot be negative"),
        ("abc", "not a number"),
        ("", "not a number"),
        (".", "not a number"),
        ("1e3", "not a number"),
        ("+5", "not a number"),
        ("1.2.3", "not a number"),
        ("0.0000000001", "more than 9 decimals"),
        ("1000000001", "larger than"),
        ("99999999999999999999999", "larger than"),
    ] {
        let e = parse_amount(text).expect_err(text);
        let m = e.to_string();
        assert!(m.contains("--budget") && m.contains(says), "{text}: {m}");
        assert!(e.is_usage());
    }
    assert!(
        parse_amount("x")
            .map_err(|e| e.to_string())
            .is_err_and(|m| m.contains("such as 50"))
    );
}

#[test]
fn windows_are_normalised() {
    for (text, stored) in [
        ("monthly", "monthly"),
        ("Daily", "daily"),
        ("weekly", "weekly"),
        ("30d", "30d"),
        ("2w", "14d"),
        ("3600s", "1h"),
        ("90m", "90m"),
        ("1h 30m", "90m"),
        ("5s", "5s"),
    ] {
        assert_eq!(parse_window(text).ok().as_deref(), Some(stored), "{text}");
    }
    for bad in ["fortnightly", "", "500ms", "1.5s"] {
        let m = parse_window(bad).expect_err(bad).to_string();
        assert!(m.contains("--budget-window"), "{bad}: {m}");
    }
}

#[test]
fn soft_thresholds_are_whole_percents() {
    assert_eq!(parse_soft("80").ok(), Some(Some(80)));
    assert_eq!(parse_soft("100%").ok(), Some(Some(100)));
    assert_eq!(parse_soft("").ok(), Some(None));
    for bad in ["0", "150", "-5", "eighty", "80.5"] {
        let m = parse_soft(bad).expect_err(bad).to_string();
        assert!(m.contains("--budget-soft") && m.contains("1 to 100"), "{m}");
    }
}

#[test]
fn amounts_are_shown_with_two_decimals_or_more() {
    assert_eq!(format_amount(50_000_000_000), "50.00");
    assert_eq!(format_amount(500_000_000), "0.50");
    assert_eq!(format_amount(12_345_000_000), "12.345");
    assert_eq!(format_amount(1), "0.000000001");
    let cols = BudgetColumns {
        budget_nano: Some(50_000_000_000),
        budget_window: Some("monthly".into()),
        budget_soft_percent: Some(80),
        budget_anchor_us: Some(1),
    };
    assert_eq!(cols.describe().as_deref(), Some("50.00/monthly (soft 80%)"));
    assert_eq!(BudgetColumns::default().describe(), None);
}

#[test]
fn create_flags_need_a_budget_and_default_to_monthly() {
    let e = BudgetChange::parse(None, Some("weekly"), None, false, true).expect_err("no budget");
    assert!(
        e.is_usage() && e.to_string().contains("--budget-window `weekly`"),
        "{e}"
    );
    let e = BudgetChange::parse(None, None, Some("80"), false, true).expect_err("no budget");
    assert!(e.to_string().contains("--budget-soft `80`"), "{e}");
    let c = BudgetChange::parse(Some("5"), None, None, false, true).expect("ok");
    let cols = c.for_new(3_000_042);
    assert_eq!(cols.budget_window.as_deref(), Some("monthly"));
    assert_eq!(
        (cols.budget_nano, cols.budget_anchor_us),
        (Some(5 * NANO_PER_UNIT), Some(3_000_000)),
        "anchored on the whole second"
    );
    assert_eq!(
        BudgetChange::parse(None, None, None, false, true).ok(),
        Some(BudgetChange::Keep)
    );
}

#[test]
fn updates_keep_what_is_not_given_and_restart_the_window_when_it_changes() {
    let set = BudgetColumns {
        budget_nano: Some(10),
        budget_window: Some("30d".into()),
        budget_soft_percent: Some(80),
        budget_anchor_us: Some(1),
    };
    let soft = BudgetChange::parse(None, None, Some("90"), false, false).expect("ok");
    let after = soft.apply(&set, 5_000_099).expect("a budget is set");
    assert_eq!(after.budget_soft_percent, Some(90));
    assert_eq!(after.budget_anchor_us, Some(1), "the window goes on");
    let amount = BudgetChange::parse(Some("2"), None, Some(""), false, false).expect("ok");
    let after = amount.apply(&set, 5_000_099).expect("ok");
    assert_eq!(after.budget_window.as_deref(), Some("30d"));
    assert_eq!(after.budget_soft_percent, None);
    assert_eq!(
        after.budget_anchor_us,
        Some(5_000_000),
        "a new limit restarts the window"
    );
    assert!(soft.apply(&BudgetColumns::default(), 99).is_none());
    let clear = BudgetChange::parse(None, None, None, true, false).expect("ok");
    assert_eq!(clear.apply(&set, 99), Some(BudgetColumns::default()));
}

#[test]
fn columns_compile_into_budgets_of_each_level() {
    let cols = |nano, window: &str| BudgetColumns {
        budget_nano: Some(nano),
        budget_window: Some(window.into()),
        budget_soft_percent: None,
        budget_anchor_us: Some(7),
    };
    let b = compile([
        (Scope::Key, Some(1), cols(5, "1h")),
        (Scope::User, Some(2), BudgetColumns::default()),
        (Scope::Team, Some(3), cols(9, "monthly")),
    ])
    .expect("two budgets");
    assert_eq!(b.len(), 2);
    assert_eq!((b[0].scope, b[0].id, b[0].limit_nano), (Scope::Key, 1, 5));
    assert_eq!(b[0].window, Window::Every(Duration::from_secs(3600)));
    assert_eq!(b[0].anchor_us, 7);
    assert_eq!(
        (b[1].scope, b[1].id, b[1].window),
        (Scope::Team, 3, Window::Monthly)
    );
    // A window this binary cannot read is skipped, not a crash; a team
    // budget without a team id (no team) is none.
    assert!(
        compile([
            (Scope::Key, Some(1), cols(5, "fortnightly")),
            (Scope::User, Some(2), BudgetColumns::default()),
            (Scope::Team, None, cols(9, "daily")),
        ])
        .is_none()
    );
}
