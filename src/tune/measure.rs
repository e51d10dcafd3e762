//! Measuring the real bulk insert (filled in below).
