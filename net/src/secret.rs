//! Secrets in configuration: a [`Secret`] never shows its value in `Debug` (so neither a config
//! dump nor a log line at any level carries it), and a [`SecretSource`] takes a secret inline
//! (from the environment, best) or from a file, such as a mounted Kubernetes Secret, read again
//! when the file changes so that a rotation needs no restart.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// A secret string (a password, a key). `Debug` prints `Secret(<redacted>)`, or `Secret("")`
/// when it is empty, so that "not set" stays visible; only [`Secret::expose`] gives the value.
/// It serializes as its value (the configuration loader needs that), so never serialize a
/// configuration into a log.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wrap a value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is unset.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("Secret(\"\")")
        } else {
            f.write_str("Secret(<redacted>)")
        }
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

/// Why a secret could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Both the value and a file were given for one secret.
    #[error("{key} and {key}_file are both set: give the secret one way")]
    Both {
        /// The configuration key, e.g. `openobserve.password`.
        key: String,
    },
    /// The file could not be read.
    #[error("reading {key}_file {path}: {source}; mount the secret there or unset {key}_file")]
    Read {
        /// The configuration key.
        key: String,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file does not hold UTF-8 text.
    #[error("{key}_file {path} is not UTF-8 text")]
    NotText {
        /// The configuration key.
        key: String,
        /// The file.
        path: PathBuf,
    },
}

/// Longest secret file read: a password or a token, never more.
const MAX_FILE: u64 = 64 << 10;

/// A secret given inline or by a file. The file's content, less one trailing newline, is the
/// secret; it is read again whenever its modification time or size changes (a Kubernetes
/// Secret volume swaps a symbolic link on rotation, which changes both as seen through the
/// link).
#[derive(Debug)]
pub struct SecretSource {
    key: String,
    inline: Secret,
    file: Option<PathBuf>,
    /// The last read: the file's (mtime, size) and its secret.
    cached: Mutex<Option<((SystemTime, u64), Secret)>>,
}

impl SecretSource {
    /// The secret of configuration key `key` (named in errors), given as `inline` or by `file`
    /// (not both). A file is read once here, so that a missing one fails at startup.
    pub fn new(
        key: impl Into<String>,
        inline: Secret,
        file: Option<&Path>,
    ) -> Result<SecretSource, SecretError> {
        let key = key.into();
        if file.is_some() && !inline.is_empty() {
            return Err(SecretError::Both { key });
        }
        let source = SecretSource {
            key,
            inline,
            file: file.map(Path::to_path_buf),
            cached: Mutex::new(None),
        };
        source.get()?;
        Ok(source)
    }

    /// Whether the secret comes from a file.
    pub fn is_file(&self) -> bool {
        self.file.is_some()
    }

    /// The secret now: the inline value, or the file's content (read again if it changed).
    pub fn get(&self) -> Result<Secret, SecretError> {
        let Some(path) = &self.file else {
            return Ok(self.inline.clone());
        };
        let read_err = |source| SecretError::Read {
            key: self.key.clone(),
            path: path.clone(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(read_err)?;
        let stamp = (
            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            meta.len(),
        );
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, secret)) = cached.as_ref() {
            if *at == stamp {
                return Ok(secret.clone());
            }
        }
        let secret = read_secret_file(path).map_err(|e| match e {
            FileError::Io(source) => read_err(source),
            FileError::NotText => SecretError::NotText {
                key: self.key.clone(),
                path: path.clone(),
            },
        })?;
        *cached = Some((stamp, secret.clone()));
        Ok(secret)
    }
}

enum FileError {
    Io(std::io::Error),
    NotText,
}

/// The secret in a file: its text less one trailing newline (`\n` or `\r\n`), at most
/// [`MAX_FILE`] bytes.
fn read_secret_file(path: &Path) -> Result<Secret, FileError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE + 1).read_to_end(&mut bytes))
        .map_err(FileError::Io)?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(FileError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("longer than {MAX_FILE} bytes: not a secret"),
        )));
    }
    let mut text = String::from_utf8(bytes).map_err(|_| FileError::NotText)?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(Secret(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("hunter2-\"quoted\\");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(
            format!("{:#?}", Some(&s)),
            "Some(\n    Secret(<redacted>),\n)"
        );
        assert_eq!(format!("{:?}", Secret::default()), "Secret(\"\")");
        assert_eq!(s.expose(), "hunter2-\"quoted\\");
    }

    #[test]
    fn serde_round_trips_the_value() {
        #[derive(Serialize, Deserialize)]
        struct C {
            password: Secret,
        }
        let c: C = serde_json::from_str(r#"{"password":"p"}"#).unwrap();
        assert_eq!(c.password.expose(), "p");
        assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"password":"p"}"#);
    }

    #[test]
    fn a_file_is_read_again_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("password");
        std::fs::write(&path, "first\n").unwrap();
        let source =
            SecretSource::new("openobserve.password", Secret::default(), Some(&path)).unwrap();
        assert!(source.is_file());
        assert_eq!(source.get().unwrap().expose(), "first");
        // A rotation: other content (and size), as a Secret volume's swap shows it.
        std::fs::write(&path, "second-one\r\n").unwrap();
        assert_eq!(source.get().unwrap().expose(), "second-one");
    }

    #[test]
    fn bad_files_and_both_ways_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("absent");
        let e = SecretSource::new("redis.password", Secret::default(), Some(&missing))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("redis.password_file") && e.contains("absent"),
            "{e}"
        );

        let binary = dir.path().join("binary");
        std::fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
        let e = SecretSource::new("redis.password", Secret::default(), Some(&binary))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not UTF-8"), "{e}");

        let huge = dir.path().join("huge");
        std::fs::write(&huge, vec![b'a'; (MAX_FILE + 1) as usize]).unwrap();
        let e = SecretSource::new("redis.password", Secret::default(), Some(&huge))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a secret"), "{e}");

        std::fs::write(&binary, "x").unwrap();
        let e = SecretSource::new("redis.password", Secret::new("inline"), Some(&binary))
            .unwrap_err()
            .to_string();
        assert!(e.contains("both set"), "{e}");
        // Inline alone is fine, and never touches the disk.
        let s = SecretSource::new("redis.password", Secret::new("inline"), None).unwrap();
        assert_eq!(s.get().unwrap().expose(), "inline");
    }
}
