//! Writing per-second histograms in the HdrHistogram interval log format
//! (readable by HdrHistogram's plotters and `HistogramLogProcessor`), one
//! tag per level (`c<concurrency>`). It does not collect the histograms.

use std::io::Write;
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use super::LoadError;
use super::stats::Seconds;

/// Writes `levels` (concurrency, per-second histograms in µs, placed in
/// seconds since the run's start) to `out`; values are in microseconds (max
/// value divisor 1000 gives milliseconds in the `max` column). `started` is
/// the run's wall-clock start, written as both StartTime and BaseTime, so an
/// interval's timestamp plus BaseTime is when it was measured.
pub fn write_hdr_log(
    out: &mut dyn Write,
    path: &str,
    levels: &[(usize, Seconds)],
    started: SystemTime,
) -> Result<(), LoadError> {
    let io = |source: std::io::Error| LoadError::HdrLog {
        path: path.to_string(),
        source,
    };
    let mut ser = V2DeflateSerializer::new();
    let mut w = out;
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment("tokctl loadtest: latency in microseconds, one histogram per second, tag c<concurrency>")
        .with_start_time(started)
        .with_base_time(started)
        .with_max_value_divisor(1000.0)
        .begin_log_with(&mut w, &mut ser)
        .map_err(io)?;
    for (concurrency, seconds) in levels {
        let tag_text = format!("c{concurrency}");
        for (start, h) in seconds {
            log.write_histogram(
                h,
                Duration::from_secs_f64(start.max(0.0)),
                Duration::from_secs(1),
                Tag::new(&tag_text),
            )
            .map_err(|e| io(std::io::Error::other(format!("{e:?}"))))?;
        }
    }
    Ok(())
}
