//! TLS for every gRPC server and client (rustls on the ring provider, through tonic), and
//! the local certificate authority `groundwork up` and the tests use.
//!
//! - [`ServerTls`]: the server's certificate and key, and optionally the CA whose client
//!   certificates are required (mutual TLS); the client certificate's subject names the
//!   caller ([`peer_subject`]).
//! - [`ClientTls`]: the CA a client trusts (the system's roots when none is given) and
//!   optionally its own certificate for mutual TLS.
//! - [`generate_local`]: a CA and a server certificate for `localhost`, `127.0.0.1` and the
//!   compose service names, written once under a directory and reused afterwards.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

use crate::secrets;

/// The names the local server certificate is valid for: loopback and the compose services.
pub const LOCAL_SERVER_NAMES: &[&str] = &[
    "localhost",
    "127.0.0.1",
    "::1",
    "eventbus",
    "identity",
    "budget",
    "alerting",
    "orchestrator",
];

/// Why TLS material could not be read or made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path} ({setting}): {source}")]
    Read {
        path: PathBuf,
        setting: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot make a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{0}")]
    Incomplete(String),
}

fn read(path: &Path, setting: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        setting,
        source,
    })
}

/// A server's TLS: certificate chain and key (PEM), and the CA of required client
/// certificates.
#[derive(Clone)]
pub struct ServerTls {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("mutual", &self.client_ca.is_some())
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Reads the PEM files named by `GROUNDWORK_TLS_CERT`, `GROUNDWORK_TLS_KEY` and
    /// `GROUNDWORK_TLS_CLIENT_CA`.
    pub fn from_files(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<Self, TlsError> {
        Ok(Self {
            cert: read(cert, "GROUNDWORK_TLS_CERT")?,
            key: read(key, "GROUNDWORK_TLS_KEY")?,
            client_ca: client_ca
                .map(|p| read(p, "GROUNDWORK_TLS_CLIENT_CA"))
                .transpose()?,
        })
    }

    /// Whether clients must present a certificate signed by the client CA.
    pub fn is_mutual(&self) -> bool {
        self.client_ca.is_some()
    }

    /// The rustls configuration every server runs with. It offers HTTP/2 (gRPC) and
    /// HTTP/1.1 by ALPN: the event bus serves EventBridge's HTTP API to clients that speak
    /// HTTP/1.1 (the AWS CLI), and a client offering only `http/1.1` would otherwise be
    /// refused during the handshake.
    pub fn server_config(&self) -> Result<std::sync::Arc<rustls::ServerConfig>, TlsError> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let pem = |what: &str, e: rustls::pki_types::pem::Error| {
            TlsError::Incomplete(format!("cannot read the {what} (PEM): {e}"))
        };
        let chain = CertificateDer::pem_slice_iter(&self.cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem("server certificate", e))?;
        let key = PrivateKeyDer::from_pem_slice(&self.key).map_err(|e| pem("server key", e))?;
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Incomplete(e.to_string()))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(ca) {
                    roots
                        .add(cert.map_err(|e| pem("client CA", e))?)
                        .map_err(|e| TlsError::Incomplete(format!("client CA: {e}")))?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    roots.into(),
                    provider,
                )
                .build()
                .map_err(|e| TlsError::Incomplete(format!("client CA: {e}")))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|e| TlsError::Incomplete(format!("server certificate and key: {e}")))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(std::sync::Arc::new(config))
    }
}

/// A client's TLS: the CA it trusts (none: the system's roots) and its own certificate.
#[derive(Clone, Default)]
pub struct ClientTls {
    ca: Option<Vec<u8>>,
    identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("ca", &self.ca.is_some())
            .field("client_certificate", &self.identity.is_some())
            .finish()
    }
}

impl ClientTls {
    /// Reads the PEM files named by `GROUNDWORK_CA_FILE`, `GROUNDWORK_TLS_CLIENT_CERT` and
    /// `GROUNDWORK_TLS_CLIENT_KEY`; a certificate needs its key and the other way round.
    pub fn from_files(
        ca: Option<&Path>,
        cert: Option<&Path>,
        key: Option<&Path>,
    ) -> Result<Self, TlsError> {
        let identity = match (cert, key) {
            (Some(c), Some(k)) => Some((
                read(c, "GROUNDWORK_TLS_CLIENT_CERT")?,
                read(k, "GROUNDWORK_TLS_CLIENT_KEY")?,
            )),
            (None, None) => None,
            _ => {
                return Err(TlsError::Incomplete(
                    "GROUNDWORK_TLS_CLIENT_CERT and GROUNDWORK_TLS_CLIENT_KEY go together".into(),
                ));
            }
        };
        Ok(Self {
            ca: ca.map(|p| read(p, "GROUNDWORK_CA_FILE")).transpose()?,
            identity,
        })
    }

    /// Trusts the CA in `pem`.
    pub fn with_ca_pem(pem: impl Into<Vec<u8>>) -> Self {
        Self {
            ca: Some(pem.into()),
            identity: None,
        }
    }

    /// Presents this certificate (PEM chain and key) for mutual TLS.
    pub fn with_identity(mut self, cert: impl Into<Vec<u8>>, key: impl Into<Vec<u8>>) -> Self {
        self.identity = Some((cert.into(), key.into()));
        self
    }

    pub fn config(&self) -> ClientTlsConfig {
        let mut config = ClientTlsConfig::new();
        config = match &self.ca {
            Some(ca) => config.ca_certificate(Certificate::from_pem(ca)),
            None => config.with_native_roots(),
        };
        if let Some((cert, key)) = &self.identity {
            config = config.identity(Identity::from_pem(cert, key));
        }
        config
    }
}

/// The subject of the client certificate of a mutual-TLS connection, from a request's
/// extensions (e.g. `CN=ci, O=example`); `None` without one.
pub fn peer_subject(extensions: &http::Extensions) -> Option<String> {
    let info = extensions.get::<TlsConnectInfo<TcpConnectInfo>>()?;
    let certs = info.peer_certs()?;
    let der = certs.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    Some(cert.subject().to_string())
}

/// Where [`generate_local`] put the local CA and server certificate.
#[derive(Debug, Clone)]
pub struct LocalTls {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

impl LocalTls {
    pub fn at(dir: &Path) -> Self {
        Self {
            ca_cert: dir.join("ca.pem"),
            ca_key: dir.join("ca.key"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
        }
    }

    fn all(&self) -> [&Path; 4] {
        [
            &self.ca_cert,
            &self.ca_key,
            &self.server_cert,
            &self.server_key,
        ]
    }

    /// The server side, without client certificates.
    pub fn server(&self) -> Result<ServerTls, TlsError> {
        ServerTls::from_files(&self.server_cert, &self.server_key, None)
    }

    /// A client that trusts the local CA.
    pub fn client(&self) -> Result<ClientTls, TlsError> {
        ClientTls::from_files(Some(&self.ca_cert), None, None)
    }

    /// A client certificate for `common_name`, signed by the local CA (mutual TLS): PEM
    /// certificate and key.
    pub fn issue_client(&self, common_name: &str) -> Result<(String, String), TlsError> {
        let ca_key = KeyPair::from_pem(&text(&self.ca_key)?)?;
        let issuer = Issuer::from_ca_cert_pem(&text(&self.ca_cert)?, ca_key)?;
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let cert = params.signed_by(&key, &issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

fn text(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        setting: "the local CA",
        source,
    })
}

/// Makes a CA and a server certificate for [`LOCAL_SERVER_NAMES`] under `dir` (created
/// with mode 0700, keys and certificates 0600), unless all four files are already there:
/// then they are kept, so that clients keep trusting the same CA.
pub fn generate_local(dir: &Path) -> Result<LocalTls, TlsError> {
    let local = LocalTls::at(dir);
    if local.all().iter().all(|p| p.is_file()) {
        return Ok(local);
    }
    secrets::ensure_private_dir(dir).map_err(|source| TlsError::Write {
        path: dir.to_owned(),
        source,
    })?;
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, "Groundwork local CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, &ca_key);

    let server_key = KeyPair::generate()?;
    let names: Vec<String> = LOCAL_SERVER_NAMES.iter().map(|n| (*n).to_owned()).collect();
    let mut server = CertificateParams::new(names)?;
    server
        .distinguished_name
        .push(DnType::CommonName, "Groundwork services");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let server_cert = server.signed_by(&server_key, &issuer)?;

    for (path, content) in [
        (&local.ca_key, ca_key.serialize_pem()),
        (&local.ca_cert, ca_cert.pem()),
        (&local.server_key, server_key.serialize_pem()),
        (&local.server_cert, server_cert.pem()),
    ] {
        secrets::write_private(path, content.as_bytes()).map_err(|source| TlsError::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(local)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_local_ca_is_made_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let tls_dir = dir.path().join("tls");
        let first = generate_local(&tls_dir).unwrap();
        let ca = std::fs::read(&first.ca_cert).unwrap();
        let again = generate_local(&tls_dir).unwrap();
        assert_eq!(
            std::fs::read(&again.ca_cert).unwrap(),
            ca,
            "kept, not remade"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&tls_dir), 0o700);
            for p in first.all() {
                assert_eq!(mode(p), 0o600, "{}", p.display());
            }
        }
        let pem = std::fs::read_to_string(&first.server_cert).unwrap();
        let (_, der) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
        let cert = der.parse_x509().unwrap();
        let sans = cert.subject_alternative_name().unwrap().unwrap();
        let names = format!("{:?}", sans.value.general_names);
        for name in ["localhost", "orchestrator", "eventbus"] {
            assert!(names.contains(name), "{names}");
        }
        let (client, key) = first.issue_client("ci").unwrap();
        assert!(client.contains("BEGIN CERTIFICATE") && key.contains("PRIVATE KEY"));
    }
}
