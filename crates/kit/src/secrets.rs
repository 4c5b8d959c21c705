//! The local stack's secrets under `.groundwork/secrets/`: a directory only its owner can
//! open (0700) and files only its owner can read (0600), made once and reused, so that
//! `groundwork up` hands the same tokens and CA to its services and to the CLI every time.
//!
//! ```text
//! .groundwork/secrets/
//!   api-token             the operator token
//!   api-token-read-only   the read-only token
//!   one-time-secrets.key  the orchestrator's key that seals the one-time secrets waiting
//!                         for a person (32 random bytes, hex); never in NATS
//!   one-time/<run>/       one-time secrets a client wrote for the person (0700 / 0600)
//!   tls/                  the local CA and the services' certificate (kit::tls)
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

/// The operator token's file name.
pub const API_TOKEN: &str = "api-token";
/// The read-only token's file name.
pub const READ_ONLY_TOKEN: &str = "api-token-read-only";
/// The directory of the local CA and certificates.
pub const TLS_DIR: &str = "tls";
/// The orchestrator's sealing key's file name.
pub const ONE_TIME_SECRETS_KEY: &str = "one-time-secrets.key";
/// The directory where clients write one-time secrets for the person, one directory per run.
pub const ONE_TIME_DIR: &str = "one-time";

/// The secrets directory of a local stack whose data directory is `data_dir`
/// (`.groundwork` by default).
#[derive(Debug, Clone)]
pub struct LocalSecrets {
    dir: PathBuf,
}

impl LocalSecrets {
    /// Secrets in `dir` itself (e.g. a compose volume).
    pub fn at(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
        }
    }

    /// `<data_dir>/secrets`.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("secrets"),
        }
    }

    /// `<root>/.groundwork/secrets`: where the CLI looks when run in the directory where
    /// `groundwork up` ran.
    pub fn under(root: &Path) -> Self {
        Self::in_data_dir(&root.join(".groundwork"))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates the directory (0700) if needed and returns it.
    pub fn ensure_dir(&self) -> std::io::Result<&Path> {
        ensure_private_dir(&self.dir)?;
        Ok(&self.dir)
    }

    pub fn api_token(&self) -> PathBuf {
        self.dir.join(API_TOKEN)
    }

    pub fn read_only_token(&self) -> PathBuf {
        self.dir.join(READ_ONLY_TOKEN)
    }

    pub fn tls_dir(&self) -> PathBuf {
        self.dir.join(TLS_DIR)
    }

    pub fn one_time_secrets_key(&self) -> PathBuf {
        self.dir.join(ONE_TIME_SECRETS_KEY)
    }

    /// `one-time/`: where `groundwork apply --secrets-dir` and `groundwork secrets show`
    /// write one-time secrets by default.
    pub fn one_time_dir(&self) -> PathBuf {
        self.dir.join(ONE_TIME_DIR)
    }

    /// The orchestrator's sealing key file, made with a new random key if absent (a key
    /// that exists is kept: the secrets sealed with it stay readable).
    pub fn ensure_one_time_secrets_key(&self) -> std::io::Result<PathBuf> {
        self.ensure_dir()?;
        let path = self.one_time_secrets_key();
        if !path.is_file() {
            write_private(&path, format!("{}\n", new_token()?).as_bytes())?;
        }
        Ok(path)
    }

    /// The operator and read-only token files, each made with a new random token if absent.
    pub fn ensure_tokens(&self) -> std::io::Result<(PathBuf, PathBuf)> {
        self.ensure_dir()?;
        let operator = self.api_token();
        let read_only = self.read_only_token();
        for path in [&operator, &read_only] {
            if !path.is_file() {
                write_private(path, format!("{}\n", new_token()?).as_bytes())?;
            }
        }
        Ok((operator, read_only))
    }
}

/// A new token: 32 bytes from the operating system's random source, hex (64 characters).
pub fn new_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The tokens in a token file: one per line, blank lines and surrounding spaces ignored.
/// Several lines let a server accept an old and a new token while clients move over.
pub fn read_tokens(path: &Path) -> std::io::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Creates `dir` and its parents; `dir` itself gets mode 0700.
pub fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Writes `content` to `path` readable by its owner only (0600 from the start, so that it
/// is never readable by others, not even for a moment).
pub fn write_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(content)?;
    file.sync_all()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_made_once_private_and_reused() {
        let root = tempfile::tempdir().unwrap();
        let secrets = LocalSecrets::under(root.path());
        let (operator, read_only) = secrets.ensure_tokens().unwrap();
        let first = read_tokens(&operator).unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].len(), 64);
        assert_ne!(first, read_tokens(&read_only).unwrap());
        secrets.ensure_tokens().unwrap();
        assert_eq!(read_tokens(&operator).unwrap(), first, "reused, not remade");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(secrets.dir()), 0o700);
            assert_eq!(mode(&operator), 0o600);
            assert_eq!(mode(&read_only), 0o600);
        }
    }

    #[test]
    fn a_token_file_may_hold_several_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        std::fs::write(&path, " new \n\nold\n").unwrap();
        assert_eq!(read_tokens(&path).unwrap(), ["new", "old"]);
    }
}
