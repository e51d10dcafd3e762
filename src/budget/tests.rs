//! Windows on the calendar and by length, and the tally's reserve/settle.

use std::time::Duration;

use chrono::DateTime;
use chrono_tz::Tz;

use super::*;

fn us(rfc3339: &str) -> i64 {
    DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.timestamp_micros())
        .unwrap_or_else(|e| panic!("{rfc3339}: {e}"))
}

fn tz(name: &str) -> Tz {
    time_zone(name).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn windows_parse_by_name_or_duration_and_bad_ones_are_named() {
    assert_eq!("daily".parse(), Ok(Window::Daily));
    assert_eq!(" Monthly ".parse(), Ok(Window::Monthly));
    assert_eq!("weekly".parse(), Ok(Window::Weekly));
    assert_eq!(
        "30d".parse(),
        Ok(Window::Every(Duration::from_secs(30 * 86_400)))
    );
    assert_eq!("5s".parse(), Ok(Window::Every(Duration::from_secs(5))));
    let e = "fortnightly".parse::<Window>().unwrap_err();
    assert!(e.to_string().contains("`fortnightly`"), "{e}");
    assert!(e.to_string().contains("30d"), "{e}");
    assert_eq!(
        "10ms".parse::<Window>(),
        Err(WindowError::TooShort("10ms".into()))
    );
    let e = time_zone("Mars/Olympus").unwrap_err();
    assert!(e.to_string().contains("Mars/Olympus"), "{e}");
}

#[test]
fn calendar_windows_start_at_local_midnight_monday_and_the_first() {
    let utc = tz("UTC");
    let now = us("2026-12-09T15:30:00Z"); // a Wednesday
    let p = Window::Daily.period(now, 0, utc);
    assert_eq!(
        (p.start_us, p.reset_us),
        (us("2026-12-09T00:00:00Z"), us("2026-12-10T00:00:00Z"))
    );
    let p = Window::Weekly.period(now, 0, utc);
    assert_eq!(
        (p.start_us, p.reset_us),
        (us("2026-12-07T00:00:00Z"), us("2026-12-14T00:00:00Z"))
    );
    let p = Window::Monthly.period(now, 0, utc);
    assert_eq!(
        (p.start_us, p.reset_us),
        (us("2026-12-01T00:00:00Z"), us("2027-01-01T00:00:00Z"))
    );

    // 23:30 UTC on 31 December is already 1 January in Paris.
    let paris = tz("Europe/Paris");
    let p = Window::Monthly.period(us("2026-12-31T23:30:00Z"), 0, paris);
    assert_eq!(
        (p.start_us, p.reset_us),
        (
            us("2027-01-01T00:00:00+01:00"),
            us("2027-02-01T00:00:00+01:00")
        )
    );
    // A day across the spring change is 23 hours long.
    let p = Window::Daily.period(us("2026-03-29T12:00:00Z"), 0, paris);
    assert_eq!(p.reset_us - p.start_us, 23 * 3_600_000_000);
}

#[test]
fn a_day_without_a_midnight_starts_at_its_first_hour() {
    // São Paulo moved its clocks from 00:00 to 01:00 on 4 November 2018.
    let sp = tz("America/Sao_Paulo");
    let p = Window::Daily.period(us("2018-11-04T12:00:00-02:00"), 0, sp);
    assert_eq!(p.start_us, us("2018-11-04T01:00:00-02:00"));
    assert_eq!(p.reset_us, us("2018-11-05T00:00:00-02:00"));
}

#[test]
fn duration_windows_repeat_from_their_anchor() {
    let anchor = us("2026-12-01T10:00:00Z");
    let w = Window::Every(Duration::from_secs(3_600));
    let p = w.period(us("2026-12-01T12:15:00Z"), anchor, tz("UTC"));
    assert_eq!(
        (p.start_us, p.reset_us),
        (us("2026-12-01T12:00:00Z"), us("2026-12-01T13:00:00Z"))
    );
    // Before the anchor too (a clock set back): periods still tile.
    let p = w.period(us("2026-12-01T09:30:00Z"), anchor, tz("UTC"));
    assert_eq!(p.start_us, us("2026-12-01T09:00:00Z"));
}

fn budget(scope: Scope, id: i64, limit_nano: i64, window: Window) -> Budget {
    Budget {
        scope,
        id,
        limit_nano,
        window,
        anchor_us: 0,
        soft_percent: None,
    }
}

#[test]
fn a_request_is_held_against_every_budget_or_none() {
    let t = Tally::new(tz("UTC"));
    let now = us("2026-12-07T12:00:00Z");
    let key = budget(Scope::Key, 1, 1_000, Window::Daily);
    let user = budget(Scope::User, 7, 500, Window::Monthly);
    let a = t.reserve(&[key, user], 300, now).unwrap();
    assert_eq!(
        a.tightest,
        Some((200, us("2027-01-01T00:00:00Z"))),
        "the user's 500 is tighter"
    );
    let e = t.reserve(&[key, user], 300, now).unwrap_err();
    assert_eq!(e.budget.scope, Scope::User);
    assert_eq!(e.spent_nano, 300);
    assert_eq!(
        t.spent(&key, now),
        (0, 300),
        "the refused request held nothing on the key"
    );
    assert!(t.settle(&a.hold, 120).is_empty());
    assert_eq!(t.spent(&user, now), (120, 0));
    assert!(
        t.reserve(&[key, user], 300, now).is_ok(),
        "settled below the estimate frees room"
    );
}

#[test]
fn a_new_period_starts_from_zero_and_late_settlements_stay_in_theirs() {
    let t = Tally::new(tz("UTC"));
    let b = budget(Scope::Team, 3, 100, Window::Every(Duration::from_secs(5)));
    let t0 = 1_000_000_000_i64 * 5; // a period boundary
    let a = t.reserve(&[b], 80, t0).unwrap();
    t.settle(&a.hold, 80);
    assert!(
        t.reserve(&[b], 30, t0 + 4_000_000).is_err(),
        "80 + 30 > 100 in the same 5 s"
    );
    let late = t.reserve(&[b], 20, t0 + 4_900_000).unwrap();
    let next = t0 + 5_000_000;
    let a = t.reserve(&[b], 90, next).unwrap();
    t.settle(&late.hold, 20);
    assert_eq!(
        t.spent(&b, next),
        (0, 90),
        "the old period's settlement is not counted in the new"
    );
    t.settle(&a.hold, 90);
    assert_eq!(t.spent(&b, next), (90, 0));
}

#[test]
fn the_soft_threshold_is_raised_once_a_period() {
    let t = Tally::new(tz("UTC"));
    let mut b = budget(Scope::Key, 9, 1_000, Window::Every(Duration::from_secs(60)));
    b.soft_percent = Some(80);
    let now = 0;
    let settle = |cost| {
        let a = t.reserve(&[b], 1, now).unwrap();
        t.settle(&a.hold, cost)
    };
    assert!(settle(700).is_empty());
    let crossed = settle(150);
    assert_eq!(
        crossed,
        vec![Crossed {
            budget: b,
            spent_nano: 850
        }]
    );
    assert!(settle(50).is_empty(), "once a period");
    let later = 60_000_000;
    let a = t.reserve(&[b], 1, later).unwrap();
    assert_eq!(t.settle(&a.hold, 900).len(), 1, "again in the next period");
}

#[test]
fn a_rebuild_only_raises_spend() {
    let t = Tally::new(tz("UTC"));
    let b = budget(Scope::User, 2, 10_000, Window::Daily);
    let a = t.reserve(&[b], 100, 0).unwrap();
    t.settle(&a.hold, 400);
    t.raise_to(&b, 300, 0);
    assert_eq!(t.spent(&b, 0).0, 400, "a stale rebuild does not lower it");
    t.raise_to(&b, 2_500, 0);
    assert_eq!(t.spent(&b, 0).0, 2_500);
}

#[test]
fn overshoot_is_bounded_by_what_in_flight_requests_cost_beyond_their_estimates() {
    // 300 requests in flight at once, each estimated at 100 and costing
    // 130: all fit the 30_000 budget when admitted, and settle 30 above.
    let t = Tally::new(tz("UTC"));
    let b = budget(Scope::Key, 1, 30_000, Window::Daily);
    let holds: Vec<Hold> = (0..300)
        .map(|_| t.reserve(&[b], 100, 0).map(|a| a.hold))
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        t.reserve(&[b], 1, 0).is_err(),
        "the 301st does not fit while 300 are held"
    );
    for h in &holds {
        t.settle(h, 130);
    }
    let spent = t.spent(&b, 0).0;
    assert_eq!(spent, 300 * 130);
    assert!(
        spent <= 30_000 + 300 * 30,
        "within the bound: in flight × excess"
    );
    assert!(
        t.reserve(&[b], 1, 0).is_err(),
        "spent beyond the limit refuses everything after"
    );
}

#[test]
fn a_monthly_budget_turns_over_at_local_midnight_on_the_first() {
    // The clock is injected: admission times are arguments.
    let t = Tally::new(tz("Europe/Paris"));
    let b = budget(Scope::User, 9, 100, Window::Monthly);
    let a = t.reserve(&[b], 100, us("2026-12-31T22:00:00Z")).unwrap();
    t.settle(&a.hold, 100);
    let x = t
        .reserve(&[b], 1, us("2026-12-31T22:59:59Z"))
        .expect_err("23:59:59 in Paris is still December");
    assert_eq!(
        x.reset_us,
        us("2026-12-31T23:00:00Z"),
        "January begins at 00:00 Paris time"
    );
    let a = t
        .reserve(&[b], 100, us("2026-12-31T23:00:00Z"))
        .expect("a new month, a new budget");
    assert_eq!(a.tightest, Some((0, us("2027-01-31T23:00:00Z"))));
}
