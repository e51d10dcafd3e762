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
    File { tmp: NamedTempFile, path: PathBuf },
    Stream(Box<dyn Write + Send>),
}

impl Write for Target {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Target::File { tmp, .. } => tmp.write(buf),
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
                Target::File { tmp, path }
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
            Target::File { tmp, path } => {
                tmp.as_file().sync_all().map_err(io_err)?;
                tmp.persist(&path).map_err(|e| ExportError::Output {
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
