//! Output placeholder.
