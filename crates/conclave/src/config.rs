//! Settings of `conclave serve`, from four sources.
//!
//! Precedence is flag > `CONCLAVE_*` environment variable > TOML file >
//! built-in default. Clap handles the first two (its `env` attribute), which
//! is why every clap field is an `Option` without a default: a value that is
//! absent from both can then still come from the file, and only after that
//! from [`Defaults`].
//!
//! The file uses the flag names with `_` instead of `-`; an unknown key is an
//! error, so that a typo cannot silently leave a setting at its default.
//!
//! ```toml
//! data_dir = "/var/lib/conclave"
//! http = "0.0.0.0:8080"
//! media = "0.0.0.0:10000"
//! # database_url = "postgres://conclave@db/conclave"
//! session_ttl_secs = 2592000
//! auth_burst = 20
//! auth_per_minute = 10
//! log_format = "json"
//! ```

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroU64};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use server::rate_limit::Quota;
use server::{Database, LedgerSettings, Limits, ServerConfig};

/// Longest session lifetime accepted: ten years. Anything longer is almost
/// certainly a unit mistake, and it keeps expiry arithmetic far from overflow.
const MAX_SESSION_TTL_SECS: u64 = 10 * 365 * 24 * 3600;

/// Built-in defaults, used when neither flag, environment nor file sets a value.
#[derive(Debug, Clone, Copy)]
pub struct Defaults;

impl Defaults {
    /// Where the embedded SQLite database lives.
    pub const DATA_DIR: &'static str = "./conclave-data";
    /// HTTP and WebSocket address: loopback, so that a first run exposes nothing.
    pub const HTTP: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);
    /// Media UDP address.
    pub const MEDIA: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 10000);
}

/// Options of `conclave serve`. Each is also read from `CONCLAVE_<NAME>` and
/// from the `--config` file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// TOML config file (keys: data_dir, http, media, database_url,
    /// session_ttl_secs, auth_burst, auth_per_minute, log_format,
    /// ledger_origin, ledger_key_file, and the [oversight] table).
    #[arg(long, env = "CONCLAVE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory of the embedded SQLite database [default: ./conclave-data].
    #[arg(long, env = "CONCLAVE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// HTTP and WebSocket listen address, IP:PORT [default: 127.0.0.1:8080].
    #[arg(long, env = "CONCLAVE_HTTP", value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// Media UDP address, IP:PORT [default: 127.0.0.1:10000].
    #[arg(long, env = "CONCLAVE_MEDIA", value_name = "ADDR")]
    pub media: Option<SocketAddr>,
    /// sqlite:// or postgres:// URL; when set it replaces the SQLite file in --data-dir.
    #[arg(long, env = "CONCLAVE_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// How long a login token lives, in seconds [default: 2592000, 30 days].
    #[arg(long, env = "CONCLAVE_SESSION_TTL_SECS", value_name = "N")]
    pub session_ttl_secs: Option<NonZeroU64>,
    /// Registrations and logins allowed in a burst per client address [default: 20].
    #[arg(long, env = "CONCLAVE_AUTH_BURST", value_name = "N")]
    pub auth_burst: Option<NonZeroU32>,
    /// Registrations and logins regained per minute per client address [default: 10].
    #[arg(long, env = "CONCLAVE_AUTH_PER_MINUTE", value_name = "N")]
    pub auth_per_minute: Option<NonZeroU32>,
    /// Log line format on stderr [default: text]. The level comes from RUST_LOG [default: info].
    #[arg(long, env = "CONCLAVE_LOG_FORMAT", value_name = "FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// The transparency log's name, `<host>/conclave-log` [default: localhost/conclave-log].
    #[arg(long, env = "CONCLAVE_LEDGER_ORIGIN", value_name = "ORIGIN")]
    pub ledger_origin: Option<String>,
    /// The transparency log's Ed25519 key file, created with mode 0600 if
    /// missing [default: ledger.key in --data-dir; required with --database-url].
    #[arg(long, env = "CONCLAVE_LEDGER_KEY_FILE", value_name = "FILE")]
    pub ledger_key_file: Option<PathBuf>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The `--config` file. Same names and types as [`ServeArgs`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// See [`ServeArgs::data_dir`].
    pub data_dir: Option<PathBuf>,
    /// See [`ServeArgs::http`].
    pub http: Option<SocketAddr>,
    /// See [`ServeArgs::media`].
    pub media: Option<SocketAddr>,
    /// See [`ServeArgs::database_url`].
    pub database_url: Option<String>,
    /// See [`ServeArgs::session_ttl_secs`].
    pub session_ttl_secs: Option<NonZeroU64>,
    /// See [`ServeArgs::auth_burst`].
    pub auth_burst: Option<NonZeroU32>,
    /// See [`ServeArgs::auth_per_minute`].
    pub auth_per_minute: Option<NonZeroU32>,
    /// See [`ServeArgs::log_format`].
    pub log_format: Option<LogFormat>,
    /// See [`ServeArgs::ledger_origin`].
    pub ledger_origin: Option<String>,
    /// See [`ServeArgs::ledger_key_file`].
    pub ledger_key_file: Option<PathBuf>,
    /// The `[oversight]` table: genesis staff and policy (file only: staff
    /// tables do not fit a flag). Written to the ledger on first start.
    pub oversight: Option<oversight::OversightConfig>,
}

/// Everything `serve` needs once all sources are merged and checked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// What the server library takes.
    pub server: ServerConfig,
    /// How to write logs.
    pub log_format: LogFormat,
}

/// Why the settings are unusable. Each message is one line naming the
/// source and the problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file cannot be read.
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config file is not valid TOML, has an unknown key or a bad value.
    #[error("config file {path}{location}: {message}")]
    ParseFile {
        /// The file.
        path: PathBuf,
        /// `, line N (`text`)` when the parser gave a position, else empty.
        location: String,
        /// What the parser said.
        message: String,
    },
    /// The database URL has a scheme the storage layer does not speak.
    #[error("database URL must start with sqlite:// or postgres:// (got scheme {scheme:?}); check --database-url")]
    DatabaseUrl {
        /// The scheme given (never the whole URL: it may hold a password).
        scheme: String,
    },
    /// The session lifetime is implausibly long.
    #[error("session_ttl_secs is {got}; the most accepted is {MAX_SESSION_TTL_SECS} (ten years); check --session-ttl-secs")]
    SessionTtl {
        /// The value given.
        got: u64,
    },
}

impl ServeArgs {
    /// Reads the config file, if any, and merges every source into [`Settings`].
    pub fn resolve(self) -> Result<Settings, ConfigError> {
        let file = match &self.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        merge(self, file)
    }
}

impl FileConfig {
    /// Reads and parses a TOML config file.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        FileConfig::parse(&text).map_err(|(location, message)| ConfigError::ParseFile {
            path: path.to_owned(),
            location,
            message,
        })
    }

    /// Parses TOML text; on error gives `(location, message)` on one line each,
    /// since toml's own `Display` spans several lines with a drawn caret.
    pub fn parse(text: &str) -> Result<FileConfig, (String, String)> {
        toml::from_str(text).map_err(|e: toml::de::Error| {
            let location = e
                .span()
                .map(|span| {
                    let start = span.start.min(text.len());
                    let line_no = text[..start].matches('\n').count() + 1;
                    let line = text.lines().nth(line_no - 1).unwrap_or_default().trim();
                    format!(", line {line_no} (`{line}`)")
                })
                .unwrap_or_default();
            (location, e.message().trim().replace('\n', " "))
        })
    }
}

/// Merges the sources; `args` already holds flag-or-env values.
pub fn merge(args: ServeArgs, file: FileConfig) -> Result<Settings, ConfigError> {
    let database_url = args.database_url.or(file.database_url);
    let database = match database_url {
        Some(url) => {
            check_database_url(&url)?;
            Database::Url(url)
        }
        None => Database::SqliteDir(
            args.data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from(Defaults::DATA_DIR)),
        ),
    };
    let defaults = Limits::default();
    let session_ttl = match args.session_ttl_secs.or(file.session_ttl_secs) {
        Some(secs) if secs.get() > MAX_SESSION_TTL_SECS => {
            return Err(ConfigError::SessionTtl { got: secs.get() })
        }
        Some(secs) => Duration::from_secs(secs.get()),
        None => defaults.session_ttl,
    };
    let auth_per_address = Quota {
        burst: args
            .auth_burst
            .or(file.auth_burst)
            .map_or(defaults.auth_per_address.burst, NonZeroU32::get),
        per_minute: args
            .auth_per_minute
            .or(file.auth_per_minute)
            .map_or(defaults.auth_per_address.per_minute, NonZeroU32::get),
    };
    let server = ServerConfig {
        http: args.http.or(file.http).unwrap_or(Defaults::HTTP),
        media: args.media.or(file.media).unwrap_or(Defaults::MEDIA),
        database,
        limits: Limits {
            session_ttl,
            auth_per_address,
            ..defaults
        },
        ledger: LedgerSettings {
            origin: args
                .ledger_origin
                .or(file.ledger_origin)
                .unwrap_or_else(|| LedgerSettings::default().origin),
            key_file: args.ledger_key_file.or(file.ledger_key_file),
        },
        oversight: file.oversight,
        ..ServerConfig::default()
    };
    Ok(Settings {
        server,
        log_format: args.log_format.or(file.log_format).unwrap_or_default(),
    })
}

/// Refuses a URL the storage layer would refuse later with a vaguer message.
fn check_database_url(url: &str) -> Result<(), ConfigError> {
    let known = ["sqlite:", "postgres://", "postgresql://"];
    if known.iter().any(|prefix| url.starts_with(prefix)) {
        return Ok(());
    }
    let mut scheme: String = url.split(':').next().unwrap_or_default().to_owned();
    // Without a colon the whole string would be echoed; it may be a secret.
    if !url.contains(':') || scheme.len() > 16 {
        scheme = "(none)".into();
    }
    Err(ConfigError::DatabaseUrl { scheme })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn flag_or_env_beats_file_beats_default() {
        let file = FileConfig::parse(
            "http = \"127.0.0.1:1111\"\nmedia = \"127.0.0.1:2222\"\nauth_burst = 7\nlog_format = \"json\"\n",
        )
        .expect("valid file");
        let args = ServeArgs {
            http: Some(addr("127.0.0.1:3333")),
            ..ServeArgs::default()
        };
        let settings = merge(args, file).expect("valid settings");
        assert_eq!(settings.server.http, addr("127.0.0.1:3333"));
        assert_eq!(settings.server.media, addr("127.0.0.1:2222"));
        assert_eq!(settings.server.limits.auth_per_address.burst, 7);
        assert_eq!(
            settings.server.limits.auth_per_address.per_minute,
            Limits::default().auth_per_address.per_minute
        );
        assert_eq!(settings.log_format, LogFormat::Json);
        assert!(matches!(
            settings.server.database,
            Database::SqliteDir(ref dir) if dir == Path::new(Defaults::DATA_DIR)
        ));
    }

    #[test]
    fn database_url_replaces_data_dir() {
        let args = ServeArgs {
            data_dir: Some("/somewhere".into()),
            database_url: Some("postgres://u:secret@db/conclave".into()),
            ..ServeArgs::default()
        };
        let settings = merge(args, FileConfig::default()).expect("valid settings");
        assert!(matches!(settings.server.database, Database::Url(_)));
    }

    #[test]
    fn a_bad_database_url_does_not_echo_it() {
        let args = ServeArgs {
            database_url: Some("mysql://u:hunter2@db/x".into()),
            ..ServeArgs::default()
        };
        let message = merge(args, FileConfig::default())
            .expect_err("mysql is refused")
            .to_string();
        assert!(
            message.contains("\"mysql\"") && !message.contains("hunter2"),
            "{message}"
        );
        let args = ServeArgs {
            database_url: Some("hunter2".into()),
            ..ServeArgs::default()
        };
        let message = merge(args, FileConfig::default())
            .expect_err("no scheme")
            .to_string();
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn file_errors_name_the_key_and_line() {
        let (location, message) = FileConfig::parse("http = \"127.0.0.1:1\"\ncolour = \"blue\"\n")
            .expect_err("unknown key");
        assert!(message.contains("colour"), "{message}");
        assert!(location.contains("line 2"), "{location}");
        let (location, message) =
            FileConfig::parse("http = \"nowhere\"\n").expect_err("bad address");
        assert!(location.contains("http"), "{location}");
        assert!(!message.contains('\n'));
        let (_, message) = FileConfig::parse("auth_burst = 0\n").expect_err("zero burst");
        assert!(
            message.contains("nonzero") || message.contains("zero"),
            "{message}"
        );
    }

    #[test]
    fn an_implausible_session_ttl_is_refused() {
        let args = ServeArgs {
            session_ttl_secs: NonZeroU64::new(u64::MAX),
            ..ServeArgs::default()
        };
        assert!(matches!(
            merge(args, FileConfig::default()),
            Err(ConfigError::SessionTtl { .. })
        ));
    }
}
