//! Verifying AWS Signature Version 4 (`Authorization: AWS4-HMAC-SHA256 …`), so that the
//! AWS CLI and SDKs can call an HTTP API served beside gRPC with their usual credentials.
//!
//! The signature is recomputed from the request as the client signed it (the canonical
//! request over the headers it lists in `SignedHeaders` and the SHA-256 of the body) with
//! the secret the access key id stands for, and compared in constant time. A request whose
//! `X-Amz-Date` is more than 15 minutes away from now is refused, as AWS does.

use std::time::{Duration, SystemTime};

use ring::{digest, hmac};
use subtle::ConstantTimeEq;

/// The only algorithm AWS signs JSON APIs with.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// How far a request's time may be from the server's (AWS: 15 minutes).
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// Why a signed request was refused; each has AWS's error code ([`SigV4Error::code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// The `Authorization` header is not a complete SigV4 header.
    #[error("{0}")]
    Incomplete(String),
    /// The signature does not match, or the request is too old or from the future.
    #[error("{0}")]
    Invalid(String),
}

impl SigV4Error {
    /// AWS's error code: `IncompleteSignatureException` or `InvalidSignatureException`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Incomplete(_) => "IncompleteSignatureException",
            Self::Invalid(_) => "InvalidSignatureException",
        }
    }
}

/// A parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key_id: String,
    /// `yyyymmdd`, from the credential scope.
    pub date: String,
    pub region: String,
    pub service: String,
    /// Lower-case header names, as the client listed them.
    pub signed_headers: Vec<String>,
    signature: Vec<u8>,
}

fn incomplete(why: &str) -> SigV4Error {
    SigV4Error::Incomplete(format!(
        "Authorization header requires {why} (AWS Signature Version 4: \
         `AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request, \
         SignedHeaders=<names>, Signature=<hex>`)."
    ))
}

/// Whether an `Authorization` header value is a SigV4 one (rather than a bearer token).
pub fn is_sigv4(header: &[u8]) -> bool {
    header.starts_with(ALGORITHM.as_bytes())
}

/// Reads `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
pub fn parse(header: &str) -> Result<Authorization, SigV4Error> {
    let rest = header
        .strip_prefix(ALGORITHM)
        .filter(|r| r.starts_with(' '))
        .ok_or_else(|| incomplete("the algorithm AWS4-HMAC-SHA256"))?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let credential = credential.ok_or_else(|| incomplete("a Credential"))?;
    let mut scope = credential.split('/');
    let (Some(key), Some(date), Some(region), Some(service), Some("aws4_request"), None) = (
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
    ) else {
        return Err(incomplete(
            "a Credential of the form <key>/<yyyymmdd>/<region>/<service>/aws4_request",
        ));
    };
    if key.is_empty() || date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(incomplete("a Credential with an access key id and a date"));
    }
    let signed_headers: Vec<String> = signed
        .ok_or_else(|| incomplete("SignedHeaders"))?
        .split(';')
        .map(str::to_owned)
        .collect();
    if signed_headers.iter().any(String::is_empty) || !signed_headers.iter().any(|h| h == "host") {
        return Err(incomplete("SignedHeaders that include host"));
    }
    let signature = decode_hex(signature.ok_or_else(|| incomplete("a Signature"))?)
        .filter(|s| s.len() == 32)
        .ok_or_else(|| incomplete("a Signature of 64 hexadecimal digits"))?;
    Ok(Authorization {
        access_key_id: key.to_owned(),
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
        signed_headers,
        signature,
    })
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `yyyymmddThhmmssZ` as a time.
fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let at = time::PrimitiveDateTime::parse(text, format)
        .ok()?
        .assume_utc();
    let secs = u64::try_from(at.unix_timestamp()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// Percent-encodes as SigV4's canonical URI and query want (RFC 3986 unreserved kept).
fn uri_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else if b == b'/' && keep_slash {
            out.push('/');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Undoes percent-encoding; `None` when it is broken.
fn uri_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let pair = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(pair, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn canonical_query(query: &str) -> Option<String> {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((
                uri_encode(&uri_decode(k)?, false),
                uri_encode(&uri_decode(v)?, false),
            ))
        })
        .collect::<Option<_>>()?;
    pairs.sort();
    Some(
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&"),
    )
}

/// A header's value as SigV4 canonicalises it: trimmed, inner runs of spaces made one;
/// several values of one name joined by commas.
fn canonical_header(headers: &http::HeaderMap, uri: &http::Uri, name: &str) -> Option<String> {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|v| {
            v.to_str()
                .ok()
                .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .collect::<Option<_>>()?;
    if values.is_empty() {
        // HTTP/2 carries the host as the `:authority` pseudo-header, in the URI.
        return (name == "host").then(|| uri.authority().map(|a| a.as_str().to_owned()))?;
    }
    Some(values.join(","))
}

/// The string a client signed for this request, as SigV4 builds it.
pub fn string_to_sign(
    auth: &Authorization,
    parts: &http::request::Parts,
    body: &[u8],
    now: SystemTime,
) -> Result<String, SigV4Error> {
    let amz_date = parts
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| incomplete("an X-Amz-Date header"))?;
    if !auth
        .signed_headers
        .iter()
        .any(|h| h == "x-amz-date" || h == "date")
    {
        return Err(incomplete("SignedHeaders that include x-amz-date"));
    }
    let at = parse_amz_date(amz_date)
        .ok_or_else(|| incomplete("an X-Amz-Date of the form yyyymmddThhmmssZ"))?;
    if !amz_date.starts_with(&auth.date) {
        return Err(SigV4Error::Invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
            auth.date,
            amz_date.get(..8).unwrap_or(amz_date)
        )));
    }
    let skew = now
        .duration_since(at)
        .or_else(|_| at.duration_since(now))
        .unwrap_or_default();
    if skew > MAX_SKEW {
        return Err(SigV4Error::Invalid(format!(
            "Signature expired: {amz_date} is more than 15 minutes from the server's time; check the client's clock."
        )));
    }
    let path = parts.uri.path();
    let canonical_uri = uri_encode(
        &uri_decode(path).ok_or_else(|| SigV4Error::Invalid("the path is not valid".into()))?,
        true,
    );
    let query = canonical_query(parts.uri.query().unwrap_or(""))
        .ok_or_else(|| SigV4Error::Invalid("the query string is not valid".into()))?;
    let mut canonical_headers = String::new();
    for name in &auth.signed_headers {
        let value = canonical_header(&parts.headers, &parts.uri, name).ok_or_else(|| {
            SigV4Error::Invalid(format!("the signed header {name} is missing or not text"))
        })?;
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(&value);
        canonical_headers.push('\n');
    }
    let payload = hex(digest::digest(&digest::SHA256, body).as_ref());
    let canonical = format!(
        "{}\n{canonical_uri}\n{query}\n{canonical_headers}\n{}\n{payload}",
        parts.method.as_str(),
        auth.signed_headers.join(";"),
    );
    Ok(format!(
        "{ALGORITHM}\n{amz_date}\n{}/{}/{}/aws4_request\n{}",
        auth.date,
        auth.region,
        auth.service,
        hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    ))
}

/// The signature of `string_to_sign` with `secret` under the scope of `auth`.
pub fn sign(auth: &Authorization, string_to_sign: &str, secret: &[u8]) -> Vec<u8> {
    let step = |key: &[u8], data: &[u8]| -> Vec<u8> {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
            .as_ref()
            .to_vec()
    };
    let mut key = b"AWS4".to_vec();
    key.extend_from_slice(secret);
    let key = step(&key, auth.date.as_bytes());
    let key = step(&key, auth.region.as_bytes());
    let key = step(&key, auth.service.as_bytes());
    let key = step(&key, b"aws4_request");
    step(&key, string_to_sign.as_bytes())
}

/// Whether `auth`'s signature is that of `string_to_sign` with `secret` (constant time).
pub fn verify(auth: &Authorization, string_to_sign: &str, secret: &[u8]) -> bool {
    bool::from(sign(auth, string_to_sign, secret).ct_eq(&auth.signature))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// AWS's published example (the `get-vanilla` case of the SigV4 test suite).
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn vanilla(signature: &str) -> (Authorization, http::request::Parts) {
        let header = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature={signature}"
        );
        let (parts, ()) = http::Request::get("http://example.amazonaws.com/")
            .header("host", "example.amazonaws.com")
            .header("x-amz-date", "20150830T123600Z")
            .body(())
            .unwrap()
            .into_parts();
        (parse(&header).unwrap(), parts)
    }

    fn at_vanilla_time() -> SystemTime {
        parse_amz_date("20150830T123600Z").unwrap()
    }

    const VANILLA: &str = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

    #[test]
    fn the_published_example_verifies() {
        let (auth, parts) = vanilla(VANILLA);
        assert_eq!(auth.access_key_id, "AKIDEXAMPLE");
        let sts = string_to_sign(&auth, &parts, b"", at_vanilla_time()).unwrap();
        assert!(verify(&auth, &sts, SECRET.as_bytes()));
        assert!(!verify(&auth, &sts, b"another secret"));
    }

    #[test]
    fn any_change_to_what_was_signed_is_refused() {
        let (auth, mut parts) = vanilla(VANILLA);
        let body_changed = string_to_sign(&auth, &parts, b"{}", at_vanilla_time()).unwrap();
        assert!(!verify(&auth, &body_changed, SECRET.as_bytes()));
        parts
            .headers
            .insert("host", "other.amazonaws.com".parse().unwrap());
        let host_changed = string_to_sign(&auth, &parts, b"", at_vanilla_time()).unwrap();
        assert!(!verify(&auth, &host_changed, SECRET.as_bytes()));
        let (auth, parts) = vanilla(&VANILLA.replace('5', "6"));
        let sts = string_to_sign(&auth, &parts, b"", at_vanilla_time()).unwrap();
        assert!(!verify(&auth, &sts, SECRET.as_bytes()));
    }

    #[test]
    fn an_old_or_future_request_is_refused() {
        let (auth, parts) = vanilla(VANILLA);
        for off in [16 * 60, -16 * 60_i64] {
            let now = if off > 0 {
                at_vanilla_time() + Duration::from_secs(off.unsigned_abs())
            } else {
                at_vanilla_time() - Duration::from_secs(off.unsigned_abs())
            };
            let e = string_to_sign(&auth, &parts, b"", now).unwrap_err();
            assert_eq!(e.code(), "InvalidSignatureException", "{e}");
        }
        let now = at_vanilla_time() + Duration::from_secs(14 * 60);
        assert!(string_to_sign(&auth, &parts, b"", now).is_ok());
    }

    #[test]
    fn incomplete_headers_are_named_as_such() {
        for header in [
            "AWS4-HMAC-SHA256",
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request",
            "AWS4-HMAC-SHA256 Credential=AKID/2015/us-east-1/service/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request, SignedHeaders=x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request, SignedHeaders=host, Signature=zz",
        ] {
            assert_eq!(
                parse(header).unwrap_err().code(),
                "IncompleteSignatureException",
                "{header}"
            );
        }
        assert!(is_sigv4(b"AWS4-HMAC-SHA256 Credential=x"));
        assert!(!is_sigv4(b"Bearer x"));
    }

    #[test]
    fn canonical_queries_are_sorted_and_encoded() {
        assert_eq!(canonical_query("b=2&a=1").unwrap(), "a=1&b=2");
        assert_eq!(canonical_query("a=x%20y&c").unwrap(), "a=x%20y&c=");
        assert_eq!(uri_encode("/a b/c", true), "/a%20b/c");
    }
}
