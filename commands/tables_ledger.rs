//! The ledger's tables: the spool's segments, the chains' verification
//! and the summary's groups, in the style of [`crate::render`].

use tokctl::ledger::chain::verify::Report as VerifyReport;
use tokctl::ledger::spool::Scan;
use tokctl::ledger::summary::Summary;

use crate::render::{Col, Tab, bytes, count, int, latency_ms, money};

pub fn spool(scan: &Scan) -> Tab {
    let mut t = Tab::new(&[
        ("segment", Col::Atom),
        ("first seq", Col::Num),
        ("last seq", Col::Num),
        ("records", Col::Num),
        ("size", Col::Num),
        ("unreadable", Col::Num),
    ]);
    for s in &scan.segments {
        let name = s.path.file_name().map_or_else(
            || s.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        t.row([
            name,
            int(s.first_seq),
            s.last.map_or("-".into(), |(l, _)| int(l)),
            count(s.records),
            bytes(s.bytes),
            bytes(s.unreadable_bytes),
        ]);
    }
    t
}

pub fn verify(r: &VerifyReport) -> Tab {
    let mut t = Tab::new(&[
        ("instance", Col::Atom),
        ("keyed", Col::Atom),
        ("watermark", Col::Num),
        ("checked", Col::Num),
        ("gaps", Col::Num),
        ("breaks", Col::Num),
        ("first break", Col::Text),
    ]);
    for c in &r.chains {
        let first = c.first_break.as_ref().map_or("-".to_string(), |b| {
            format!("{} at {}: {}", b.kind, b.seq, b.detail)
        });
        t.row([
            c.instance_id.clone(),
            if c.keyed { "yes" } else { "no" }.to_string(),
            int(c.watermark),
            count(c.entries_checked),
            count(c.gaps.len() as u64),
            count(c.breaks),
            first,
        ]);
    }
    t
}

pub fn summary(s: &Summary, currency: &str) -> Tab {
    let mut cols: Vec<(&str, Col)> = s.by.iter().map(|g| (g.as_str(), Col::Atom)).collect();
    cols.extend([
        ("requests", Col::Num),
        ("errors", Col::Num),
        ("prompt tokens", Col::Num),
        ("completion tokens", Col::Num),
        ("total tokens", Col::Num),
        ("cost", Col::Num),
        ("p50", Col::Num),
        ("p99", Col::Num),
    ]);
    let mut t = Tab::new(&cols);
    let lat = |us: Option<f64>| us.map_or("-".into(), |us| latency_ms(us / 1000.0));
    for r in &s.rows {
        let mut cells: Vec<String> = r
            .group
            .iter()
            .map(|g| g.clone().unwrap_or_default())
            .collect();
        cells.extend([
            int(r.requests),
            int(r.errors),
            int(r.prompt_tokens),
            int(r.completion_tokens),
            int(r.total_tokens),
            money(r.cost_nano, currency),
            lat(r.p50_latency_us),
            lat(r.p99_latency_us),
        ]);
        t.row(cells);
    }
    t
}
