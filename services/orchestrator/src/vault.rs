//! One-time secrets that wait for a person: the admin's initial password, the MFA seed and
//! its QR code, held until a person's client acknowledges that it showed them on a terminal
//! or wrote them to a file only the person can read, and for a bounded time at most.
//!
//! They are sealed with AES-256-GCM (ring) under a key that is not in NATS: a key file
//! (`GROUNDWORK_ORCHESTRATOR__SECRETS_KEY_FILE`, made by `groundwork secrets init` and
//! `groundwork up`), or, without one, a key made at start-up that lives in memory only (held
//! secrets then do not survive a restart of the orchestrator). The sealed records live in
//! the KV bucket `orchestrator-one-time-secrets`, one key per secret with no history, so any
//! replica with the key can read them. The associated data binds each ciphertext to its
//! run, step, name, id and expiry: a record moved or re-dated in NATS does not open.
//! A secret that expired, or that does not open with the current key, is purged.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use groundwork_bus::kv::{Bucket, Records};
use groundwork_bus::names::ONE_TIME_SECRETS_BUCKET;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::runner::OneTimeSecret;

/// The bucket of sealed secrets: no history, so a purged secret leaves no older copy.
const BUCKET: Bucket = Bucket {
    name: ONE_TIME_SECRETS_BUCKET,
    description: "One-time secrets waiting for a person, sealed with a key that is not in NATS",
    history: 1,
};

/// The length of an AES-256 key.
const KEY_LEN: usize = 32;

/// The key that seals held secrets. `Debug` prints nothing of it.
pub struct SealingKey {
    key: LessSafeKey,
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(..)")
    }
}

impl SealingKey {
    /// The key in `path`: 32 bytes as 64 hex digits (surrounding whitespace ignored), as
    /// `groundwork secrets init` writes it.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let setting = "GROUNDWORK_ORCHESTRATOR__SECRETS_KEY_FILE";
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::invalid(
                setting,
                format!(
                    "cannot read the one-time secrets key {}: {e}; `groundwork secrets init` \
                     makes it",
                    path.display()
                ),
            )
        })?;
        let bytes = from_hex(text.trim()).filter(|b| b.len() == KEY_LEN);
        let Some(bytes) = bytes else {
            return Err(Error::invalid(
                setting,
                format!(
                    "{} does not hold a key of 32 bytes as 64 hex digits",
                    path.display()
                ),
            ));
        };
        Self::from_bytes(&bytes)
    }

    /// A new random key that lives in this process only.
    pub fn ephemeral() -> Result<Self, Error> {
        let mut bytes = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| Error::internal("the system's random source failed"))?;
        Self::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let key = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| Error::internal("not an AES-256 key"))?;
        Ok(Self {
            key: LessSafeKey::new(key),
        })
    }

    /// Encrypts `plaintext` with a new random nonce; returns (nonce, ciphertext and tag).
    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<(Vec<u8>, Vec<u8>), Error> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| Error::internal("the system's random source failed"))?;
        let mut sealed = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut sealed,
            )
            .map_err(|_| Error::internal("a one-time secret could not be sealed"))?;
        Ok((nonce.to_vec(), sealed))
    }

    /// Decrypts; `None` when the ciphertext, its associated data or the key do not match.
    fn open(&self, aad: &[u8], nonce: &[u8], sealed: &[u8]) -> Option<SecretSlice<u8>> {
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buffer = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut buffer)
            .ok()?
            .to_vec();
        // The decrypted bytes also sit in `buffer`: clear it before it is freed.
        buffer.fill(0);
        Some(SecretSlice::from(plain))
    }
}

/// A held secret as stored: what it is, in clear (no secret), and its value, sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SealedSecret {
    pub id: String,
    pub run_id: String,
    /// The step that produced it.
    pub resource: String,
    /// `initial_password`, `secret_access_key`, `mfa_otpauth_uri`, `mfa_base32_seed`.
    pub name: String,
    /// Unix milliseconds after which it is discarded.
    pub expires_at_ms: i64,
    /// Hex.
    pub nonce: String,
    /// Hex: the AES-256-GCM ciphertext and tag of the [`Plain`] JSON.
    pub sealed: String,
}

impl SealedSecret {
    /// The associated data: everything about the secret but its value.
    fn aad(&self) -> Vec<u8> {
        format!(
            "groundwork one-time secret\n{}\n{}\n{}\n{}\n{}",
            self.run_id, self.resource, self.name, self.id, self.expires_at_ms
        )
        .into_bytes()
    }

    fn expired(&self, now_ms: i64) -> bool {
        self.expires_at_ms <= now_ms
    }
}

/// What is sealed: the value and the QR code.
#[derive(Serialize, Deserialize)]
struct Plain {
    value: String,
    /// Hex of the PNG; empty when none.
    #[serde(default)]
    png: String,
}

/// The held secrets of every run.
#[derive(Debug, Clone)]
pub struct Vault {
    records: Records<SealedSecret>,
    key: Arc<SealingKey>,
    ttl: Duration,
}

fn prefix(run_id: &str) -> String {
    format!("secret.{run_id}.")
}

fn key_of(run_id: &str, id: &str) -> String {
    format!("secret.{run_id}.{id}")
}

impl Vault {
    /// Opens (or creates) the bucket; secrets are held for `ttl` at most.
    pub async fn open(
        client: &async_nats::Client,
        timeout: Duration,
        replicas: usize,
        key: SealingKey,
        ttl: Duration,
    ) -> Result<Self, Error> {
        let js = groundwork_bus::connect::jetstream(client, timeout);
        Ok(Self {
            records: Records::open(&js, &BUCKET, replicas).await?,
            key: Arc::new(key),
            ttl,
        })
    }

    /// How long a secret is held at most.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Seals and stores `secrets` of `run_id` at `now_ms`, giving each its id and expiry.
    pub async fn hold(
        &self,
        run_id: &str,
        secrets: &mut [OneTimeSecret],
        now_ms: i64,
    ) -> Result<(), Error> {
        let expires_at_ms =
            now_ms.saturating_add(i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX));
        for secret in secrets.iter_mut() {
            // Ids and expiry are given once: holding again (a retry while NATS was away)
            // overwrites the same keys instead of adding copies.
            if secret.id.is_empty() {
                secret.id = uuid::Uuid::new_v4().simple().to_string();
                secret.expires_at_ms = expires_at_ms;
            }
            let record = self.seal(run_id, secret)?;
            self.records
                .put(&key_of(run_id, &record.id), &record)
                .await?;
        }
        Ok(())
    }

    fn seal(&self, run_id: &str, secret: &OneTimeSecret) -> Result<SealedSecret, Error> {
        let plain = Plain {
            value: secret.value.expose_secret().to_owned(),
            png: secret
                .png
                .as_ref()
                .map(|p| to_hex(p.expose_secret()))
                .unwrap_or_default(),
        };
        let json = SecretSlice::from(
            serde_json::to_vec(&plain)
                .map_err(|_| Error::internal("a one-time secret could not be encoded"))?,
        );
        let mut record = SealedSecret {
            id: secret.id.clone(),
            run_id: run_id.to_owned(),
            resource: secret.resource.clone(),
            name: secret.name.clone(),
            expires_at_ms: secret.expires_at_ms,
            nonce: String::new(),
            sealed: String::new(),
        };
        let (nonce, sealed) = self.key.seal(&record.aad(), json.expose_secret())?;
        record.nonce = to_hex(&nonce);
        record.sealed = to_hex(&sealed);
        Ok(record)
    }

    fn open_record(&self, record: &SealedSecret) -> Option<OneTimeSecret> {
        let nonce = from_hex(&record.nonce)?;
        let sealed = from_hex(&record.sealed)?;
        let json = self.key.open(&record.aad(), &nonce, &sealed)?;
        let plain: Plain = serde_json::from_slice(json.expose_secret()).ok()?;
        let png = if plain.png.is_empty() {
            None
        } else {
            Some(SecretSlice::from(from_hex(&plain.png)?))
        };
        Some(OneTimeSecret {
            resource: record.resource.clone(),
            name: record.name.clone(),
            value: SecretString::from(plain.value),
            png,
            id: record.id.clone(),
            expires_at_ms: record.expires_at_ms,
        })
    }

    /// The sealed records of a run that are still valid at `now_ms` (nothing is opened);
    /// expired ones are purged on the way.
    pub async fn held(&self, run_id: &str, now_ms: i64) -> Result<Vec<SealedSecret>, Error> {
        let mut out = Vec::new();
        for (key, record) in self.records.list(&prefix(run_id)).await? {
            if record.value.expired(now_ms) {
                self.records.purge(&key).await?;
                tracing::info!(run = %run_id, resource = %record.value.resource, name = %record.value.name, "a one-time secret expired before a person fetched it; discarded");
            } else {
                out.push(record.value);
            }
        }
        Ok(out)
    }

    /// The secrets of a run that wait for a person, opened. One that does not open (sealed
    /// with another key: the orchestrator restarted without a key file, or the key file
    /// changed) can never be read again and is purged.
    pub async fn waiting(&self, run_id: &str, now_ms: i64) -> Result<Vec<OneTimeSecret>, Error> {
        let mut out = Vec::new();
        for record in self.held(run_id, now_ms).await? {
            match self.open_record(&record) {
                Some(secret) => out.push(secret),
                None => {
                    self.records.purge(&key_of(run_id, &record.id)).await?;
                    tracing::warn!(run = %run_id, resource = %record.resource, name = %record.name, "a held one-time secret does not open with this orchestrator's key (a restart without a key file, or another key file); discarded");
                }
            }
        }
        out.sort_by(|a, b| (&a.resource, &a.name).cmp(&(&b.resource, &b.name)));
        Ok(out)
    }

    /// The steps of a run with secrets still waiting at `now_ms` (nothing is opened).
    pub async fn held_resources(
        &self,
        run_id: &str,
        now_ms: i64,
    ) -> Result<BTreeSet<String>, Error> {
        Ok(self
            .held(run_id, now_ms)
            .await?
            .into_iter()
            .map(|r| r.resource)
            .collect())
    }

    /// Forgets the delivered secrets `ids` of a run; returns the records that were held
    /// (ids unknown, already delivered or expired are skipped).
    pub async fn release(&self, run_id: &str, ids: &[String]) -> Result<Vec<SealedSecret>, Error> {
        let mut released = Vec::new();
        for id in ids {
            // An id is a key part: refuse what could name another key.
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(Error::invalid(
                    "secret_ids",
                    format!("{id:?} is not a secret id"),
                ));
            }
            let key = key_of(run_id, id);
            if let Some(record) = self.records.get(&key).await? {
                self.records.purge(&key).await?;
                released.push(record.value);
            }
        }
        Ok(released)
    }

    /// Purges every expired secret of every run; returns how many.
    pub async fn sweep(&self, now_ms: i64) -> Result<usize, Error> {
        let mut n = 0;
        for (key, record) in self.records.list("secret.").await? {
            if record.value.expired(now_ms) {
                self.records.purge(&key).await?;
                n += 1;
            }
        }
        Ok(n)
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn record(key: &SealingKey, value: &str) -> SealedSecret {
        let mut r = SealedSecret {
            id: "abc".into(),
            run_id: "run-1".into(),
            resource: "admin-user/admin".into(),
            name: "initial_password".into(),
            expires_at_ms: 1_000,
            nonce: String::new(),
            sealed: String::new(),
        };
        let plain = serde_json::to_vec(&Plain {
            value: value.into(),
            png: to_hex(b"\x89PNG"),
        })
        .unwrap();
        let (nonce, sealed) = key.seal(&r.aad(), &plain).unwrap();
        r.nonce = to_hex(&nonce);
        r.sealed = to_hex(&sealed);
        r
    }

    fn opens(key: &SealingKey, r: &SealedSecret) -> Option<String> {
        let json = key.open(
            &r.aad(),
            &from_hex(&r.nonce).unwrap(),
            &from_hex(&r.sealed).unwrap(),
        )?;
        let plain: Plain = serde_json::from_slice(json.expose_secret()).unwrap();
        Some(plain.value)
    }

    #[test]
    fn a_sealed_secret_opens_with_its_key_only_and_holds_no_clear_text() {
        let key = SealingKey::ephemeral().unwrap();
        let r = record(&key, "Pa55word!clear");
        let stored = serde_json::to_string(&r).unwrap();
        assert!(!stored.contains("Pa55word!clear"));
        assert!(!stored.contains(&to_hex(b"Pa55word!clear")));
        assert_eq!(opens(&key, &r).as_deref(), Some("Pa55word!clear"));
        let other = SealingKey::ephemeral().unwrap();
        assert_eq!(opens(&other, &r), None, "another key does not open it");
    }

    #[test]
    fn a_record_moved_or_redated_does_not_open() {
        let key = SealingKey::ephemeral().unwrap();
        let r = record(&key, "s3cret");
        for changed in [
            SealedSecret {
                run_id: "run-2".into(),
                ..r.clone()
            },
            SealedSecret {
                expires_at_ms: i64::MAX,
                ..r.clone()
            },
            SealedSecret {
                name: "mfa_base32_seed".into(),
                ..r.clone()
            },
        ] {
            assert_eq!(opens(&key, &changed), None, "{changed:?}");
        }
        assert!(r.expired(1_000) && !r.expired(999));
    }

    #[test]
    fn a_key_file_holds_64_hex_digits() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("k");
        std::fs::write(&good, format!("{}\n", "ab".repeat(32))).unwrap();
        assert!(SealingKey::from_file(&good).is_ok());
        let short = dir.path().join("short");
        std::fs::write(&short, "abcd").unwrap();
        let e = SealingKey::from_file(&short).unwrap_err();
        assert!(e.to_string().contains("64 hex digits"), "{e}");
        let missing = SealingKey::from_file(&dir.path().join("none")).unwrap_err();
        assert!(
            missing.to_string().contains("groundwork secrets init"),
            "{missing}"
        );
        assert!(!format!("{:?}", SealingKey::from_file(&good).unwrap()).contains("ab"));
    }

    #[test]
    fn hex_round_trips_and_refuses_junk() {
        assert_eq!(
            from_hex(&to_hex(&[0, 1, 254, 255])).unwrap(),
            [0, 1, 254, 255]
        );
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex("é1"), None);
    }
}
