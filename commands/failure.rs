//! The process contract's one error type: a [`Failure`] is a message
//! (with its cause chain) and an exit code, and every library error a
//! command meets becomes one here, with the documented code for its kind.

pub use tokctl::errors::chain;

/// A failure to report: the message (with its cause chain) and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
    /// Stdout was closed by its reader (`| head`): not a failure at all.
    pub broken_pipe: bool,
}

/// Exit codes (also in `tokctl --help`).
pub mod exit {
    /// The operation's verdict is bad or it failed (unreachable database, drift).
    pub const FAILURE: u8 = 1;
    /// Usage or configuration error.
    pub const USAGE: u8 = 2;
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            broken_pipe: false,
        }
    }

    /// A library error: exit 2 when the caller gave a bad value (`usage`),
    /// else 1; the message is the error's cause chain. The one place the
    /// usage/failure split of every error type becomes an exit code.
    pub fn of(e: &(dyn std::error::Error + 'static), usage: bool) -> Self {
        let code = if usage { exit::USAGE } else { exit::FAILURE };
        Failure::new(code, chain(e))
    }

    /// Writing to stdout failed; a closed pipe (`| head`) is recognised by
    /// its kind, and `main` treats it as success.
    pub fn stdout(e: &std::io::Error, code: u8) -> Self {
        Failure {
            broken_pipe: e.kind() == std::io::ErrorKind::BrokenPipe,
            ..Failure::new(code, format!("writing to stdout: {e}"))
        }
    }
}

impl From<tokctl::config::ConfigError> for Failure {
    fn from(e: tokctl::config::ConfigError) -> Self {
        Failure::new(exit::USAGE, format!("config: {e}"))
    }
}

impl From<tokctl::db::DbError> for Failure {
    fn from(e: tokctl::db::DbError) -> Self {
        Failure::new(exit::FAILURE, chain(&e))
    }
}

/// Opening a database: a config that names none (or not a DSN) is a usage
/// error, a database that does not answer a failure.
impl From<tokctl::db::open::OpenError> for Failure {
    fn from(e: tokctl::db::open::OpenError) -> Self {
        use tokctl::db::open::OpenError;
        match e {
            OpenError::Config(e) => e.into(),
            OpenError::Dsn(e) => Failure::new(exit::USAGE, e.to_string()),
            OpenError::Db(e) => e.into(),
        }
    }
}

impl From<tokctl::identity::IdentityError> for Failure {
    fn from(e: tokctl::identity::IdentityError) -> Self {
        Failure::of(&e, e.is_usage())
    }
}
