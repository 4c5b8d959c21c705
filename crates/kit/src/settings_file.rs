//! One way to load a service's settings, in layers: the defaults in the code, then an
//! optional TOML file (`--config FILE` or `GROUNDWORK_CONFIG`), then the environment, then
//! flags. Each layer overrides the one before.
//!
//! The file uses the flags' long names (`nats_url` or `nats-url`); top-level keys apply to
//! every service and a table named after the service (`[identity]`) overrides them for that
//! service, so one file can configure a whole stack. A key that names no setting is an error
//! (a typo must not be ignored silently).
//!
//! clap reads the defaults, the environment and the flags; the file is slotted in between by
//! passing its values as flags for exactly the settings that still hold their default.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgAction, CommandFactory, FromArgMatches};

/// The id of the setting that names the file (`CommonSettings::config`).
const CONFIG_ID: &str = "config";

/// Loads `S` from the process's arguments and environment, with the file layer.
pub fn load<S: CommandFactory + FromArgMatches>(service: &str) -> Result<S, clap::Error> {
    load_from(service, std::env::args_os())
}

/// [`load`] with the given arguments (the first is the program name).
pub fn load_from<S, I, T>(service: &str, args: I) -> Result<S, clap::Error>
where
    S: CommandFactory + FromArgMatches,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let command = S::command();
    let matches = command.clone().try_get_matches_from(&args)?;
    let path = matches
        .try_get_one::<PathBuf>(CONFIG_ID)
        .ok()
        .flatten()
        .cloned();
    let Some(path) = path else {
        return S::from_arg_matches(&matches);
    };
    let mut command = command;
    let values =
        read_file(&path, service).map_err(|m| command.error(clap::error::ErrorKind::Io, m))?;
    let mut extra: Vec<OsString> = Vec::new();
    for (key, value) in values {
        let wanted = key.replace('_', "-");
        let Some(arg) = command
            .get_arguments()
            .find(|a| a.get_long() == Some(wanted.as_str()))
        else {
            return Err(command.error(
                clap::error::ErrorKind::UnknownArgument,
                format!("{}: `{key}` is not a setting of {service}", path.display()),
            ));
        };
        let id = arg.get_id().as_str();
        let from_default = matches!(
            matches.value_source(id),
            None | Some(ValueSource::DefaultValue)
        );
        if !from_default {
            continue; // the environment or a flag wins over the file
        }
        let not_a_value = |key: &str| {
            command.clone().error(
                clap::error::ErrorKind::InvalidValue,
                format!(
                    "{}: `{key}` must be a string, number or boolean",
                    path.display()
                ),
            )
        };
        match (arg.get_action(), value) {
            (ArgAction::SetTrue, toml::Value::Boolean(true))
            | (ArgAction::SetFalse, toml::Value::Boolean(false)) => {
                extra.push(format!("--{wanted}").into());
            }
            (ArgAction::SetTrue | ArgAction::SetFalse, toml::Value::Boolean(_)) => {}
            (_, toml::Value::Array(items)) => {
                for item in items {
                    let text = scalar(&item).ok_or_else(|| not_a_value(&key))?;
                    extra.push(format!("--{wanted}={text}").into());
                }
            }
            (_, value) => {
                let text = scalar(&value).ok_or_else(|| not_a_value(&key))?;
                extra.push(format!("--{wanted}={text}").into());
            }
        }
    }
    let mut all = args;
    all.extend(extra);
    let matches = command.try_get_matches_from_mut(all)?;
    S::from_arg_matches(&matches)
}

/// A file value as the text of a flag; tables have no flag form.
fn scalar(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Datetime(d) => Some(d.to_string()),
        toml::Value::Array(_) | toml::Value::Table(_) => None,
    }
}

/// The file's values for `service`: top-level keys, overridden by the `[service]` table.
/// Other services' tables are skipped.
fn read_file(path: &Path, service: &str) -> Result<Vec<(String, toml::Value)>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the settings file {}: {e}", path.display()))?;
    let table: toml::Table = text.parse().map_err(|e| {
        format!(
            "the settings file {} is not valid TOML: {e}",
            path.display()
        )
    })?;
    let mut values: Vec<(String, toml::Value)> = Vec::new();
    let mut own = None;
    for (key, value) in table {
        match value {
            toml::Value::Table(t) if key == service => own = Some(t),
            toml::Value::Table(_) if SERVICES.contains(&key.as_str()) => {}
            value => values.push((key, value)),
        }
    }
    for (key, value) in own.into_iter().flatten() {
        values.retain(|(k, _)| k.replace('-', "_") != key.replace('-', "_"));
        values.push((key, value));
    }
    Ok(values)
}

/// The sections a stack-wide file may hold.
const SERVICES: &[&str] = &["eventbus", "identity", "budget", "alerting", "orchestrator"];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Write;

    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Demo {
        #[arg(long, env = "KIT_TEST_CONFIG")]
        config: Option<PathBuf>,
        #[arg(long, env = "KIT_TEST_NATS_URL", default_value = "nats://default")]
        nats_url: String,
        #[arg(long, env = "KIT_TEST_PORT", default_value_t = 1)]
        port: u16,
        #[arg(long, default_value_t = true, action = ArgAction::Set)]
        watch: bool,
        #[arg(long)]
        verbose: bool,
        #[arg(long, value_delimiter = ',')]
        buses: Vec<String>,
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn load(args: &[&str]) -> Result<Demo, clap::Error> {
        load_from::<Demo, _, _>(
            "identity",
            std::iter::once("demo").chain(args.iter().copied()),
        )
    }

    #[test]
    fn without_a_file_defaults_and_flags_apply() {
        let d = load(&["--port", "7"]).unwrap();
        assert_eq!(
            (d.nats_url.as_str(), d.port, d.watch),
            ("nats://default", 7, true)
        );
    }

    #[test]
    fn the_file_overrides_defaults_and_flags_override_the_file() {
        let f = file(
            "nats_url = \"nats://file\"\nport = 5\nwatch = false\nverbose = true\n\
             buses = [\"a\", \"b\"]\n[identity]\nport = 6\n[budget]\nport = 9\n",
        );
        let path = f.path().to_str().unwrap();
        let d = load(&["--config", path]).unwrap();
        assert_eq!(d.nats_url, "nats://file");
        assert_eq!(
            d.port, 6,
            "the service's own table wins over top-level keys"
        );
        assert!(!d.watch);
        assert!(d.verbose);
        assert_eq!(d.buses, ["a", "b"]);
        let d = load(&["--config", path, "--port", "8"]).unwrap();
        assert_eq!(d.port, 8, "a flag wins over the file");
    }

    #[test]
    fn unknown_keys_and_bad_files_are_errors() {
        let f = file("nats_ulr = \"x\"\n");
        let e = load(&["--config", f.path().to_str().unwrap()]).unwrap_err();
        assert!(e.to_string().contains("`nats_ulr` is not a setting"), "{e}");
        let f = file("port = [\n");
        let e = load(&["--config", f.path().to_str().unwrap()]).unwrap_err();
        assert!(e.to_string().contains("not valid TOML"), "{e}");
        let e = load(&["--config", "/nonexistent/groundwork.toml"]).unwrap_err();
        assert!(e.to_string().contains("cannot read"), "{e}");
    }
}
