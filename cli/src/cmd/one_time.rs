//! How one-time secrets (the admin's initial password, an MFA seed, a new password) reach
//! the person: shown on a terminal, or written to files only the person can read (mode
//! 0600 in a directory of mode 0700, one directory per run or request) with only their
//! paths printed. Nothing else: a secret is never printed to a pipe, a log or a file
//! that others can read. A command that has neither a terminal nor a directory refuses
//! before anything is asked of a service.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::error::CliError;
use crate::output::OutputFormat;

/// Where `--secrets-dir` without a value writes: the local stack's secrets directory.
pub const DEFAULT_DIR: &str = ".groundwork/secrets/one-time";

/// A secret to hand to the person.
#[derive(Debug, Clone)]
pub struct Secret {
    /// The step (or user) it belongs to.
    pub resource: String,
    /// `initial_password`, `mfa_base32_seed`, `mfa_otpauth_uri`, `new_password`, …
    pub name: String,
    pub value: String,
    /// The QR code (PNG) of an `otpauth://` URI.
    pub png: Vec<u8>,
    /// RFC 3339, when the orchestrator holds it until then.
    pub expires_at: String,
}

/// How the secrets reach the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Shown on this terminal.
    Terminal,
    /// Written under this directory.
    Dir(PathBuf),
}

impl Delivery {
    /// `--secrets-dir` when given, else this terminal; `None` when neither is there.
    pub fn available(secrets_dir: Option<PathBuf>) -> Option<Self> {
        match secrets_dir {
            Some(dir) => Some(Self::Dir(dir)),
            None if std::io::stdout().is_terminal() => Some(Self::Terminal),
            None => None,
        }
    }

    /// This terminal, or a usage error (exit 2): for commands that show secrets to a person
    /// and never write them anywhere.
    pub fn terminal_only(command: &str) -> Result<Self, CliError> {
        if std::io::stdout().is_terminal() {
            Ok(Self::Terminal)
        } else {
            Err(CliError::usage(format!(
                "`{command}` shows one-time secrets to a person, and stdout is not a terminal: \
                 run it on a terminal (nothing was fetched; the secrets still wait)"
            )))
        }
    }

    /// As [`Delivery::available`], or a usage error (exit 2) that says what to do.
    pub fn required(secrets_dir: Option<PathBuf>, command: &str) -> Result<Self, CliError> {
        Self::available(secrets_dir).ok_or_else(|| {
            CliError::usage(format!(
                "`{command}` shows one-time secrets, and stdout is not a terminal: run it on a \
                 terminal, or pass --secrets-dir [DIR] to write them to files only you can read \
                 (default {DEFAULT_DIR})"
            ))
        })
    }
}

/// A file name part from a resource or name: letters, digits, `-`, `_` and `.` only.
fn file_part(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_start_matches('.')
        .to_owned()
}

/// Writes `content` to a new file of mode 0600; an existing file (or a link planted in
/// its place) is never followed or overwritten.
fn write_new_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(content)?;
    file.sync_all()
}

/// Makes `folder` (and `dir`, its parent, when missing) with mode 0700. The modes of
/// directories that exist are never changed (`--secrets-dir /tmp` must not close `/tmp`);
/// an existing `folder` is used only if it is a real directory that nobody else can open.
fn private_folder(dir: &Path, folder: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)?;
    match builder.recursive(false).create(folder) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let meta = std::fs::symlink_metadata(folder)?;
            #[cfg(unix)]
            let open_to_others = {
                use std::os::unix::fs::PermissionsExt;
                meta.permissions().mode() & 0o077 != 0
            };
            #[cfg(not(unix))]
            let open_to_others = false;
            if !meta.is_dir() || open_to_others {
                return Err(std::io::Error::other(
                    "it exists and is not a directory of mode 0700",
                ));
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Writes each secret to `<dir>/<group>/<resource>.<name>` (and the QR code beside it as
/// `.png`); returns the paths. `group` is the run id (or `<user>-<what>`).
pub fn write_sealed(dir: &Path, group: &str, secrets: &[Secret]) -> Result<Vec<PathBuf>, CliError> {
    let failed = |p: &Path, e: std::io::Error| {
        CliError::failed(format!(
            "cannot write one-time secrets to {}: {e}",
            p.display()
        ))
    };
    let folder = dir.join(file_part(group));
    private_folder(dir, &folder).map_err(|e| failed(&folder, e))?;
    let mut paths = Vec::new();
    for s in secrets {
        let base = format!("{}.{}", file_part(&s.resource), file_part(&s.name));
        let path = folder.join(&base);
        write_new_private(&path, format!("{}\n", s.value).as_bytes())
            .map_err(|e| failed(&path, e))?;
        paths.push(path);
        if !s.png.is_empty() {
            let png = folder.join(format!("{base}.png"));
            write_new_private(&png, &s.png).map_err(|e| failed(&png, e))?;
            paths.push(png);
        }
    }
    Ok(paths)
}

/// Hands `secrets` to the person: on the terminal (as a table or JSON), or as files under
/// the directory (paths only printed).
pub fn hand_over(
    secrets: &[Secret],
    group: &str,
    delivery: &Delivery,
    output: OutputFormat,
) -> Result<(), CliError> {
    if secrets.is_empty() {
        return Ok(());
    }
    match delivery {
        Delivery::Terminal => match output {
            OutputFormat::Json => {
                let list: Vec<_> = secrets
                    .iter()
                    .map(|s| {
                        json!({"resource": s.resource, "name": s.name, "value": s.value,
                               "expires_at": s.expires_at})
                    })
                    .collect();
                println!("{}", json!({"secrets": list}));
            }
            OutputFormat::Table => {
                for s in secrets {
                    println!(
                        "\n  ONE-TIME SECRET for {} — {}: {}",
                        s.resource, s.name, s.value
                    );
                }
                println!("  (shown once: copy it now; it is not kept anywhere after this)\n");
            }
        },
        Delivery::Dir(dir) => {
            let paths = write_sealed(dir, group, secrets)?;
            match output {
                OutputFormat::Json => println!(
                    "{}",
                    json!({"secret_files": paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>()})
                ),
                OutputFormat::Table => {
                    for p in &paths {
                        println!("  one-time secret written to {} (mode 0600)", p.display());
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn secret(name: &str, value: &str, png: &[u8]) -> Secret {
        Secret {
            resource: "mfa-device/admin".into(),
            name: name.into(),
            value: value.into(),
            png: png.to_vec(),
            expires_at: String::new(),
        }
    }

    #[test]
    fn sealed_files_are_private_new_and_named_safely() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("one-time");
        let secrets = [
            secret("mfa_base32_seed", "SEED", b""),
            secret("mfa_otpauth_uri", "otpauth://x", b"\x89PNG"),
        ];
        let paths = write_sealed(&dir, "run-1", &secrets).unwrap();
        assert_eq!(paths.len(), 3);
        assert_eq!(
            paths[0],
            dir.join("run-1").join("mfa-device_admin.mfa_base32_seed")
        );
        assert_eq!(std::fs::read_to_string(&paths[0]).unwrap(), "SEED\n");
        assert_eq!(std::fs::read(&paths[2]).unwrap(), b"\x89PNG");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir.join("run-1")), 0o700);
            for p in &paths {
                assert_eq!(mode(p), 0o600, "{}", p.display());
            }
        }
        assert!(
            write_sealed(&dir, "run-1", &secrets[..1]).is_err(),
            "an existing file is not overwritten"
        );
        assert_eq!(file_part("../../etc/passwd"), "_.._etc_passwd");
    }

    #[cfg(unix)]
    #[test]
    fn an_existing_directory_keeps_its_mode_and_an_open_folder_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let shared = root.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).unwrap();
        write_sealed(&shared, "run-1", &[secret("a", "1", b"")]).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&shared), 0o755, "the parent given is left as it was");
        assert_eq!(mode(&shared.join("run-1")), 0o700);
        write_sealed(&shared, "run-1", &[secret("b", "2", b"")]).unwrap();
        let open = shared.join("run-2");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(write_sealed(&shared, "run-2", &[secret("a", "1", b"")]).is_err());
        std::os::unix::fs::symlink(root.path(), shared.join("run-3")).unwrap();
        assert!(write_sealed(&shared, "run-3", &[secret("a", "1", b"")]).is_err());
    }
}
