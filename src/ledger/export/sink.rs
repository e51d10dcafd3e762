//! Where exported bytes go: a temporary file beside the destination (renamed
//! over it only when the export completes, so no partial file ever looks
//! finished) or a stream such as stdout; optionally compressed (gzip, zstd);
//! counted and, for manifests, hashed (SHA-256 of the bytes as stored).

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use super::{Compression, ExportError};

/// Where the export is written.
pub enum Destination {
    /// A file, made atomically: temp name in the same directory, then rename.
    File(PathBuf),
    /// An open stream (stdout); never hashed for a manifest.
    Stream(Box<dyn Write + Send>),
}

impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::File(p) => write!(f, "File({})", p.display()),
            Destination::Stream(_) => f.write_str("Stream"),
        }
    }
}

/// The raw target, below compression.
enum Target {
    File {
        tmp: NamedTempFile,
        path: PathBuf,
        writeback: Writeback,
    },
    Stream(Box<dyn Write + Send>),
}

impl Write for Target {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Target::File { tmp, writeback, .. } => {
                let n = tmp.write(buf)?;
                writeback.wrote(tmp.as_file(), n);
                Ok(n)
            }
            Target::Stream(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Target::File { tmp, .. } => tmp.flush(),
            Target::Stream(s) => s.flush(),
        }
    }
}

/// Bytes written before the disk is asked to start writing them.
const WRITEBACK_AFTER: u64 = 8 << 20;

/// Starts the disk writing a file while it is still being written.
///
/// An export ends with an fsync, so that a renamed file is a complete one.
/// Left to the kernel, a large export's pages stay dirty until then, and
/// the fsync waits for all of them: the disk time comes after the CPU time
/// instead of beside it (a 1,000,000-row JSONL export is about 900 MB).
/// Every [`WRITEBACK_AFTER`] bytes this asks for the new range to be written
/// (`sync_file_range` with `SYNC_FILE_RANGE_WRITE`: start, do not wait), so
/// the final fsync waits for the tail only. It is a hint: on other systems,
/// or if the call fails, the fsync still does all the work.
#[derive(Default)]
struct Writeback {
    written: u64,
    started: u64,
}

impl Writeback {
    fn wrote(&mut self, file: &File, n: usize) {
        self.written += n as u64;
        if self.written - self.started >= WRITEBACK_AFTER {
            start_writeback(file, self.started, self.written - self.started);
            self.started = self.written;
        }
    }
}

#[cfg(target_os = "linux")]
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: the descriptor is the open file's for the whole call, and
    // sync_file_range only reads its arguments. Its result is ignored on
    // purpose: the fsync in `finish` reports any write error.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _offset: u64, _len: u64) {}

/// Counts (and optionally hashes) the bytes passing through.
pub(crate) struct Counted {
    target: Target,
    hasher: Option<Sha256>,
    bytes: u64,
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.target.write(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.target.flush()
    }
}

/// The opened output: compression over the counted target.
pub(crate) enum Sink {
    Plain(Counted),
    Gzip(GzEncoder<Counted>),
    Zstd(zstd::stream::write::Encoder<'static, Counted>),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Gzip(w) => w.write(buf),
            Sink::Zstd(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Gzip(w) => w.flush(),
            Sink::Zstd(w) => w.flush(),
        }
    }
}

/// What a finished sink wrote.
#[derive(Debug, Clone)]
pub(crate) struct Written {
    pub bytes: u64,
    pub sha256: Option<String>,
    pub path: Option<PathBuf>,
}

/// The compression level for zstd: its default, a good speed/size balance.
const ZSTD_LEVEL: i32 = 3;

impl Sink {
    /// Opens the destination: for a file, creates the temporary file now so
    /// that an unwritable path fails before any database work.
    pub fn open(
        dest: Destination,
        compression: Compression,
        hash: bool,
    ) -> Result<Sink, ExportError> {
        let target = match dest {
            Destination::Stream(s) => Target::Stream(s),
            Destination::File(path) => {
                let dir = match path.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                if path.is_dir() {
                    return Err(ExportError::Output {
                        path,
                        source: io::Error::new(io::ErrorKind::IsADirectory, "is a directory"),
                    });
                }
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let tmp = tempfile::Builder::new()
                    .prefix(&format!(".{name}."))
                    .suffix(".partial")
                    .tempfile_in(&dir)
                    .map_err(|source| ExportError::Output {
                        path: path.clone(),
                        source,
                    })?;
                Target::File {
                    tmp,
                    path,
                    writeback: Writeback::default(),
                }
            }
        };
        let counted = Counted {
            target,
            hasher: hash.then(Sha256::new),
            bytes: 0,
        };
        let io_err = |source| ExportError::Write { source };
        Ok(match compression {
            Compression::None => Sink::Plain(counted),
            Compression::Gzip => Sink::Gzip(GzEncoder::new(counted, flate2::Compression::fast())),
            Compression::Zstd => {
                Sink::Zstd(zstd::stream::write::Encoder::new(counted, ZSTD_LEVEL).map_err(io_err)?)
            }
        })
    }

    /// Ends compression, syncs and renames the temporary file over the
    /// destination. Dropping a sink instead removes its temporary file.
    pub fn finish(self) -> Result<Written, ExportError> {
        let io_err = |source| ExportError::Write { source };
        let mut counted = match self {
            Sink::Plain(w) => w,
            Sink::Gzip(w) => w.finish().map_err(io_err)?,
            Sink::Zstd(w) => w.finish().map_err(io_err)?,
        };
        counted.flush().map_err(io_err)?;
        let sha256 = counted.hasher.map(|h| hex::encode(h.finalize()));
        let path = match counted.target {
            Target::Stream(_) => None,
            Target::File { tmp, path, .. } => {
                tmp.as_file()
                    .sync_all()
                    .map_err(|source| ExportError::Finish {
                        what: "the output",
                        then: "",
                        path: path.clone(),
                        source,
                    })?;
                tmp.persist(&path).map_err(|e| ExportError::Finish {
                    what: "the output",
                    then: "",
                    path: path.clone(),
                    source: e.error,
                })?;
                Some(path)
            }
        };
        Ok(Written {
            bytes: counted.bytes,
            sha256,
            path,
        })
    }
}

/// Writes `bytes` to `path` atomically (temp file in the same directory,
/// synced, renamed): for manifests and cursor files.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".tokctl.")
        .suffix(".partial")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // Make the rename itself durable where the platform allows it.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file larger than several writeback ranges, written in uneven
    /// pieces, arrives whole and in order, with the hash of its bytes.
    #[test]
    fn a_file_written_past_several_writeback_ranges_is_complete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.out");
        let mut sink =
            Sink::open(Destination::File(path.clone()), Compression::None, true).unwrap();
        let mut expected = Vec::new();
        let mut i: u32 = 0;
        while (expected.len() as u64) < 3 * WRITEBACK_AFTER + 12_345 {
            let piece: Vec<u8> = (0..(i % 7919 + 1)).map(|j| (i ^ j) as u8).collect();
            sink.write_all(&piece).unwrap();
            expected.extend_from_slice(&piece);
            i += 1;
        }
        let written = sink.finish().unwrap();
        let on_disk = std::fs::read(&path).unwrap();
        assert_eq!(written.bytes, expected.len() as u64);
        assert!(
            on_disk == expected,
            "the file differs from what was written"
        );
        assert_eq!(written.sha256, Some(hex::encode(Sha256::digest(&expected))));
        // No temporary file is left beside it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// The rename at the end failing (here: a directory took the name while
    /// the export ran) is the export failing, exit 1, not a usage error.
    #[test]
    fn a_failed_rename_at_the_end_is_not_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let mut sink =
            Sink::open(Destination::File(path.clone()), Compression::None, false).unwrap();
        sink.write_all(b"id\n1\n").unwrap();
        std::fs::create_dir_all(path.join("taken")).unwrap();
        let Err(e) = sink.finish() else {
            panic!("the rename over a directory succeeded")
        };
        assert!(matches!(e, ExportError::Finish { .. }), "{e}");
        assert!(!e.is_usage(), "{e}");
        assert!(e.to_string().contains("out.csv"), "{e}");
    }
}
