//! The EventBridge event envelope and the PutEvents entry contract.
//!
//! [`Event`] is what is stored on a bus and delivered to targets, field for field as
//! EventBridge writes it. [`PutEventsEntry`] is what a producer sends; [`PutEventsLimits`]
//! and [`validate_request`] apply EventBridge's rules to a whole request: the entry count,
//! the total size (computed as EventBridge computes it) and each entry's fields, with the
//! error codes and messages AWS returns.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The bus that exists on every account and is used when an entry names none.
pub const DEFAULT_BUS: &str = "default";

/// EventBridge's own limit on the summed size of a PutEvents request's entries.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 256 * 1024;

/// At most this many entries in one PutEvents request.
pub const MAX_ENTRIES: usize = 10;

/// An event as stored on a bus and delivered to targets: EventBridge's envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Always `"0"`, as in EventBridge.
    pub version: String,
    /// Unique id (a UUID), also the JetStream de-duplication id.
    pub id: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub source: String,
    pub account: String,
    /// The event's time, written as EventBridge writes it (`2024-05-01T12:00:00Z`).
    #[serde(with = "event_time")]
    pub time: OffsetDateTime,
    pub region: String,
    pub resources: Vec<String>,
    /// Always a JSON object.
    pub detail: Value,
    /// Set on events delivered by a replay: the replay's name.
    #[serde(
        rename = "replay-name",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub replay_name: Option<String>,
}

impl Event {
    /// The envelope as JSON text, in EventBridge's field order.
    pub fn to_json(&self) -> String {
        // Serializing a struct of strings, a time and a `Value` cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The envelope as a JSON value (for pattern matching and input transformation).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Serde for the envelope's `time`: whole seconds in UTC with a `Z`, as EventBridge writes
/// it; any RFC 3339 time is read.
pub mod event_time {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    /// Formats a time the way EventBridge does: `2024-05-01T12:00:00Z`.
    pub fn format(t: &OffsetDateTime) -> String {
        with_text(t, str::to_owned)
    }

    /// Calls `f` with `t` written as [`format`] writes it.
    fn with_text<R>(t: &OffsetDateTime, f: impl FnOnce(&str) -> R) -> R {
        let mut buf = [0u8; 20];
        match std::str::from_utf8(write(t, &mut buf)) {
            Ok(text) if !text.is_empty() => f(text),
            _ => f(&slow_format(t)),
        }
    }

    /// Writes `t` as [`format`] does into `buf`, without allocating: every stored event's
    /// time is written this way. A year outside 0–9999 (which `time` allows but no event
    /// has) is written with as many digits as it takes.
    fn write<'a>(t: &OffsetDateTime, buf: &'a mut [u8; 20]) -> &'a [u8] {
        let t = t.to_offset(time::UtcOffset::UTC);
        let Ok(year) = u16::try_from(t.year()) else {
            return &[];
        };
        if year > 9999 {
            return &[];
        }
        let two = |n: u8| [b'0' + n / 10, b'0' + n % 10];
        let [y0, y1] = two(u8::try_from(year / 100).unwrap_or(0));
        let [y2, y3] = two(u8::try_from(year % 100).unwrap_or(0));
        let [mo0, mo1] = two(u8::from(t.month()));
        let [d0, d1] = two(t.day());
        let [h0, h1] = two(t.hour());
        let [mi0, mi1] = two(t.minute());
        let [s0, s1] = two(t.second());
        *buf = [
            y0, y1, y2, y3, b'-', mo0, mo1, b'-', d0, d1, b'T', h0, h1, b':', mi0, mi1, b':', s0,
            s1, b'Z',
        ];
        buf
    }

    pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        with_text(t, |text| s.serialize_str(text))
    }

    /// Any year, with `format!` (years 0–9999 go through [`write`]).
    fn slow_format(t: &OffsetDateTime) -> String {
        let t = t.to_offset(time::UtcOffset::UTC);
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(d)?;
        OffsetDateTime::parse(&text, &Rfc3339).map_err(serde::de::Error::custom)
    }

    #[cfg(test)]
    #[allow(clippy::unwrap_used)]
    mod tests {
        use time::OffsetDateTime;

        #[test]
        fn the_quick_writer_writes_what_format_writes() {
            let offset = time::UtcOffset::from_hms(5, 30, 0).unwrap();
            let mut times: Vec<OffsetDateTime> = [
                -62_135_596_800_i64, // 0001-01-01
                -1,
                0,
                951_782_400, // 2000-02-29
                1_714_564_800,
                253_402_300_799, // 9999-12-31T23:59:59
            ]
            .into_iter()
            .map(|s| OffsetDateTime::from_unix_timestamp(s).unwrap())
            .collect();
            times.push(times[4].to_offset(offset));
            times.push(
                time::Date::from_calendar_date(-44, time::Month::March, 15)
                    .unwrap()
                    .midnight()
                    .assume_utc(),
            );
            // Spread over the years 1970–9999, every field's digits.
            for i in 1..2_000_i64 {
                let s = (i * 7_919_993_377) % 253_402_300_799;
                times.push(OffsetDateTime::from_unix_timestamp(s).unwrap());
            }
            #[derive(serde::Serialize)]
            struct Wrap(#[serde(with = "super")] OffsetDateTime);
            for t in times {
                assert_eq!(super::format(&t), super::slow_format(&t), "{t}");
                let json = serde_json::to_string(&Wrap(t)).unwrap();
                assert_eq!(json, format!("\"{}\"", super::slow_format(&t)));
            }
            assert_eq!(
                super::format(&OffsetDateTime::from_unix_timestamp(1_714_564_800).unwrap()),
                "2024-05-01T12:00:00Z"
            );
        }
    }
}

/// One entry of a PutEvents request, with EventBridge's field names so that the files
/// used with `aws events put-events --entries file://entries.json` can be read as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PutEventsEntry {
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_time")]
    pub time: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_bus_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_header: Option<String>,
}

/// Serde for an optional RFC 3339 time (`Time` of a PutEvents entry). A number is read as
/// seconds since the epoch, as the AWS CLI accepts.
mod opt_time {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    pub fn serialize<S: Serializer>(t: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&super::event_time::format(t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Seconds(f64),
        }
        match Option::<Raw>::deserialize(d)? {
            None => Ok(None),
            Some(Raw::Text(text)) => OffsetDateTime::parse(&text, &Rfc3339)
                .map(Some)
                .map_err(serde::de::Error::custom),
            Some(Raw::Seconds(secs)) => {
                OffsetDateTime::from_unix_timestamp_nanos((secs * 1e9) as i128)
                    .map(Some)
                    .map_err(serde::de::Error::custom)
            }
        }
    }
}

/// A whole PutEvents request as JSON (`{"Entries": [...]}`): the NATS ingress format.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutEventsRequest {
    #[serde(default)]
    pub entries: Vec<PutEventsEntry>,
}

impl PutEventsRequest {
    /// Reads a request as the NATS ingress receives it; the error is the message the
    /// ingress answers with (`ValidationException`).
    pub fn from_json(payload: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(payload).map_err(|e| {
            format!("the request is not a PutEvents request ({{\"Entries\": [...]}}): {e}")
        })
    }
}

/// The answer to one entry: its event id, or why it was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutEventsResultEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

impl PutEventsResultEntry {
    pub fn accepted(event_id: impl Into<String>) -> Self {
        Self {
            event_id: Some(event_id.into()),
            error_code: None,
            error_message: None,
        }
    }

    pub fn failed(error: &EntryError) -> Self {
        Self {
            event_id: None,
            error_code: Some(error.code.as_str().to_owned()),
            error_message: Some(error.message.clone()),
        }
    }
}

/// The answer to a whole PutEvents request, as EventBridge returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutEventsResult {
    pub failed_entry_count: u32,
    pub entries: Vec<PutEventsResultEntry>,
}

impl PutEventsResult {
    pub fn from_entries(entries: Vec<PutEventsResultEntry>) -> Self {
        let failed = entries.iter().filter(|e| e.event_id.is_none()).count();
        Self {
            failed_entry_count: u32::try_from(failed).unwrap_or(u32::MAX),
            entries,
        }
    }
}

/// The error codes EventBridge gives a refused entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryErrorCode {
    InvalidArgument,
    MalformedDetail,
    NotAuthorizedForSource,
    ResourceNotFound,
    Internal,
}

impl EntryErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidArgument => "InvalidArgument",
            Self::MalformedDetail => "MalformedDetail",
            Self::NotAuthorizedForSource => "NotAuthorizedForSourceException",
            Self::ResourceNotFound => "ResourceNotFoundException",
            Self::Internal => "InternalException",
        }
    }
}

/// Why one entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EntryError {
    pub code: EntryErrorCode,
    pub message: String,
}

impl EntryError {
    pub(crate) fn new(code: EntryErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn required(field: &str) -> Self {
        Self::new(
            EntryErrorCode::InvalidArgument,
            format!("Parameter {field} is not valid. Reason: {field} is a required argument."),
        )
    }

    /// The store did not take the event; the producer may send it again.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(EntryErrorCode::Internal, message)
    }

    /// The entry names a bus by the ARN of another account or region, or not of EventBridge.
    pub fn invalid_bus_arn(arn: &str) -> Self {
        Self::new(
            EntryErrorCode::InvalidArgument,
            format!(
                "Parameter EventBusName is not valid. Reason: '{arn}' is not an event bus of this account and region."
            ),
        )
    }

    /// The entry names a bus that does not exist.
    pub fn bus_not_found(bus: &str) -> Self {
        Self::new(
            EntryErrorCode::ResourceNotFound,
            format!("Event bus {bus} does not exist."),
        )
    }
}

/// Why a whole request was refused (EventBridge's `ValidationException`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error(
        "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length greater than or equal to 1"
    )]
    NoEntries,
    #[error(
        "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10"
    )]
    TooManyEntries { count: usize },
    #[error("Total size of the entries in the request is over the limit.")]
    TooLarge { size: usize, limit: usize },
}

/// Limits applied to a PutEvents request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutEventsLimits {
    /// The summed size of the entries, computed by [`entry_size`].
    pub max_request_bytes: usize,
}

impl Default for PutEventsLimits {
    fn default() -> Self {
        Self {
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
        }
    }
}

/// Where events are published: the account and region written in the envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub account: String,
    pub region: String,
}

/// The size EventBridge counts for an entry: 14 bytes for `Time` when set, plus the
/// UTF-8 lengths of `Source`, `DetailType`, `Detail` and each of `Resources`.
pub fn entry_size(entry: &PutEventsEntry) -> usize {
    let text = |s: &Option<String>| s.as_deref().map_or(0, str::len);
    let time = if entry.time.is_some() { 14 } else { 0 };
    time + text(&entry.source)
        + text(&entry.detail_type)
        + text(&entry.detail)
        + entry.resources.iter().map(String::len).sum::<usize>()
}

/// Checks the request as a whole: entry count and total size.
pub fn validate_request(
    entries: &[PutEventsEntry],
    limits: &PutEventsLimits,
) -> Result<(), RequestError> {
    if entries.is_empty() {
        return Err(RequestError::NoEntries);
    }
    if entries.len() > MAX_ENTRIES {
        return Err(RequestError::TooManyEntries {
            count: entries.len(),
        });
    }
    let size: usize = entries.iter().map(entry_size).sum();
    if size > limits.max_request_bytes {
        return Err(RequestError::TooLarge {
            size,
            limit: limits.max_request_bytes,
        });
    }
    Ok(())
}

/// Whether a source is kept for AWS's services (`aws.*`, as EventBridge keeps it) and
/// Groundwork's own (`groundwork.*`): only the service that owns one may emit it.
pub fn is_reserved_source(source: &str) -> bool {
    source.starts_with("aws.") || source.starts_with("groundwork.")
}

/// How a producer is trusted: customers' producers may not publish reserved sources
/// ([`is_reserved_source`]); Groundwork's own services emit theirs through the event
/// bus's emit subjects, which check that the service owns the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Producer {
    External,
    TrustedInternal,
}

/// An entry that passed validation, ready to become an [`Event`].
#[derive(Debug, Clone, PartialEq)]
pub struct ValidEntry {
    pub bus: String,
    pub source: String,
    pub detail_type: String,
    pub detail: Value,
    pub resources: Vec<String>,
    pub time: Option<OffsetDateTime>,
    pub trace_header: Option<String>,
}

impl ValidEntry {
    /// The envelope of this entry, with a fresh id, stamped now unless the entry set a time.
    pub fn into_event(self, origin: &Origin, now: OffsetDateTime) -> Event {
        Event {
            version: "0".to_owned(),
            id: uuid::Uuid::new_v4().to_string(),
            detail_type: self.detail_type,
            source: self.source,
            account: origin.account.clone(),
            time: self.time.unwrap_or(now),
            region: origin.region.clone(),
            resources: self.resources,
            detail: self.detail,
            replay_name: None,
        }
    }
}

/// Checks one entry as EventBridge does, and resolves its bus (name or ARN).
pub fn validate_entry(
    entry: &PutEventsEntry,
    producer: Producer,
) -> Result<ValidEntry, EntryError> {
    let present = |s: &Option<String>| s.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    let source = present(&entry.source).ok_or_else(|| EntryError::required("Source"))?;
    let detail_type =
        present(&entry.detail_type).ok_or_else(|| EntryError::required("DetailType"))?;
    let detail_text = entry
        .detail
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| EntryError::required("Detail"))?;
    crate::limits::check_entry(&source, &detail_type, detail_text)?;
    if let Some(time) = &entry.time {
        crate::limits::check_time(time)?;
    }
    let detail: Value = match serde_json::from_str(detail_text) {
        Ok(value @ Value::Object(_)) => value,
        _ => {
            return Err(EntryError::new(
                EntryErrorCode::MalformedDetail,
                "Detail is malformed.",
            ));
        }
    };
    if is_reserved_source(&source) && producer == Producer::External {
        return Err(EntryError::new(
            EntryErrorCode::NotAuthorizedForSource,
            "Not authorized for the source.",
        ));
    }
    for resource in &entry.resources {
        if resource.is_empty() {
            return Err(EntryError::new(
                EntryErrorCode::InvalidArgument,
                "Parameter Resources is not valid. Reason: a resource must not be empty.",
            ));
        }
    }
    let bus = match entry.event_bus_name.as_deref() {
        None | Some("") => DEFAULT_BUS.to_owned(),
        Some(name_or_arn) => bus_name_from(name_or_arn).ok_or_else(|| {
            EntryError::new(
                EntryErrorCode::InvalidArgument,
                format!(
                    "Parameter EventBusName is not valid. Reason: '{name_or_arn}' is neither a bus name ([A-Za-z0-9._/-], 1 to 256 characters) nor an event bus ARN."
                ),
            )
        })?,
    };
    Ok(ValidEntry {
        bus,
        source,
        detail_type,
        detail,
        resources: entry.resources.clone(),
        time: entry.time,
        trace_header: entry.trace_header.clone(),
    })
}

/// The bus name in a name or an event bus ARN (`arn:aws:events:us-east-1:123456789012:event-bus/name`).
pub fn bus_name_from(name_or_arn: &str) -> Option<String> {
    let name = if name_or_arn.starts_with("arn:") {
        let mut parts = name_or_arn.splitn(6, ':');
        if parts.nth(2)? != "events" {
            return None;
        }
        let resource = parts.nth(2)?;
        resource.strip_prefix("event-bus/")?
    } else {
        name_or_arn
    };
    is_valid_bus_name(name).then(|| name.to_owned())
}

/// Whether a bus ARN names a bus of this account and region (a name is always local).
pub fn is_local_bus(name_or_arn: &str, origin: &Origin) -> bool {
    if !name_or_arn.starts_with("arn:") {
        return true;
    }
    let parts: Vec<&str> = name_or_arn.splitn(6, ':').collect();
    matches!(parts.as_slice(), [_, _, "events", region, account, _]
        if *region == origin.region && *account == origin.account)
}

/// EventBridge's rule for bus names: 1 to 256 of `[A-Za-z0-9._/-]`.
pub fn is_valid_bus_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
}

/// Parses an RFC 3339 time, as accepted in entries and replays.
pub fn parse_time(text: &str) -> Result<OffsetDateTime, time::error::Parse> {
    OffsetDateTime::parse(text, &Rfc3339)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn entry(source: &str, detail_type: &str, detail: &str) -> PutEventsEntry {
        PutEventsEntry {
            source: Some(source.into()),
            detail_type: Some(detail_type.into()),
            detail: Some(detail.into()),
            ..Default::default()
        }
    }

    #[test]
    fn envelope_serializes_in_eventbridge_field_order_and_time_format() {
        let valid = validate_entry(
            &entry("shop", "Order Placed", r#"{"id":1}"#),
            Producer::External,
        )
        .unwrap();
        let origin = Origin {
            account: "123456789012".into(),
            region: "eu-west-1".into(),
        };
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let event = valid.into_event(&origin, now);
        let json = event.to_json();
        let keys: Vec<String> = serde_json::from_str::<serde_json::Map<String, Value>>(&json)
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(
            keys,
            [
                "version",
                "id",
                "detail-type",
                "source",
                "account",
                "time",
                "region",
                "resources",
                "detail"
            ]
        );
        assert!(json.contains(r#""time":"2023-11-14T22:13:20Z""#), "{json}");
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn required_fields_are_reported_with_eventbridge_messages() {
        let mut e = entry("s", "t", "{}");
        e.source = None;
        assert_eq!(
            validate_entry(&e, Producer::External).unwrap_err().message,
            "Parameter Source is not valid. Reason: Source is a required argument."
        );
        let mut e = entry("s", "t", "{}");
        e.detail_type = Some(String::new());
        assert_eq!(
            validate_entry(&e, Producer::External).unwrap_err().message,
            "Parameter DetailType is not valid. Reason: DetailType is a required argument."
        );
        let mut e = entry("s", "t", "{}");
        e.detail = None;
        assert_eq!(
            validate_entry(&e, Producer::External).unwrap_err().message,
            "Parameter Detail is not valid. Reason: Detail is a required argument."
        );
    }

    #[test]
    fn detail_must_be_a_json_object() {
        for bad in ["\"text\"", "[1,2]", "{not json", "\"{\\\"a\\\":1}\"", "12"] {
            let err = validate_entry(&entry("s", "t", bad), Producer::External).unwrap_err();
            assert_eq!(err.code, EntryErrorCode::MalformedDetail, "{bad}");
            assert_eq!(err.message, "Detail is malformed.");
        }
    }

    #[test]
    fn aws_sources_are_reserved_for_trusted_producers() {
        let e = entry("aws.cloudwatch", "CloudWatch Alarm State Change", "{}");
        let err = validate_entry(&e, Producer::External).unwrap_err();
        assert_eq!(err.code.as_str(), "NotAuthorizedForSourceException");
        assert!(validate_entry(&e, Producer::TrustedInternal).is_ok());
        let ours = entry("groundwork.identity", "MFA Device Enabled", "{}");
        let err = validate_entry(&ours, Producer::External).unwrap_err();
        assert_eq!(err.code.as_str(), "NotAuthorizedForSourceException");
        // Lookalikes are customers' own sources.
        assert!(validate_entry(&entry("groundworks.app", "t", "{}"), Producer::External).is_ok());
        assert!(validate_entry(&entry("awsome.app", "t", "{}"), Producer::External).is_ok());
    }

    #[test]
    fn size_is_counted_as_eventbridge_counts_it() {
        let mut e = entry("abc", "de", r#"{"k":1}"#);
        assert_eq!(entry_size(&e), 3 + 2 + 7);
        e.resources = vec!["arn:x".into()];
        e.time = Some(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(entry_size(&e), 3 + 2 + 7 + 5 + 14);
        // UTF-8 bytes, not characters.
        assert_eq!(entry_size(&entry("é", "", "")), 2);
    }

    #[test]
    fn request_limits_reject_the_whole_request() {
        let limits = PutEventsLimits::default();
        assert_eq!(validate_request(&[], &limits), Err(RequestError::NoEntries));
        let eleven = vec![entry("s", "t", "{}"); 11];
        assert!(matches!(
            validate_request(&eleven, &limits),
            Err(RequestError::TooManyEntries { count: 11 })
        ));
        let big = "x".repeat(DEFAULT_MAX_REQUEST_BYTES);
        let err = validate_request(&[entry("s", "t", &format!("{{\"a\":\"{big}\"}}"))], &limits)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Total size of the entries in the request is over the limit."
        );
        assert!(validate_request(&vec![entry("s", "t", "{}"); 10], &limits).is_ok());
    }

    #[test]
    fn bus_is_resolved_from_name_or_arn() {
        assert_eq!(bus_name_from("orders").as_deref(), Some("orders"));
        assert_eq!(
            bus_name_from("arn:aws:events:us-east-1:123456789012:event-bus/orders").as_deref(),
            Some("orders")
        );
        assert_eq!(bus_name_from("arn:aws:events:us-east-1:1:rule/x"), None);
        assert_eq!(bus_name_from("arn:aws:sqs:us-east-1:1:event-bus/x"), None);
        let origin = Origin {
            account: "123456789012".into(),
            region: "us-east-1".into(),
        };
        assert!(is_local_bus("orders", &origin));
        assert!(is_local_bus(
            "arn:aws:events:us-east-1:123456789012:event-bus/orders",
            &origin
        ));
        assert!(!is_local_bus(
            "arn:aws:events:eu-west-1:123456789012:event-bus/orders",
            &origin
        ));
        assert!(!is_local_bus(
            "arn:aws:events:us-east-1:999999999999:event-bus/orders",
            &origin
        ));
        assert_eq!(bus_name_from("bad name"), None);
        let mut e = entry("s", "t", "{}");
        e.event_bus_name = Some("bad name".into());
        assert_eq!(
            validate_entry(&e, Producer::External).unwrap_err().code,
            EntryErrorCode::InvalidArgument
        );
    }

    #[test]
    fn cli_entries_file_format_is_read() {
        let text = r#"[{"Source":"com.example","DetailType":"Thing","Detail":"{\"a\":1}","Resources":["arn:aws:s3:::b"],"Time":"2024-01-02T03:04:05Z","EventBusName":"default"}]"#;
        let entries: Vec<PutEventsEntry> = serde_json::from_str(text).unwrap();
        assert_eq!(entries[0].source.as_deref(), Some("com.example"));
        assert!(entries[0].time.is_some());
        let unknown = r#"[{"Sauce":"x"}]"#;
        assert!(serde_json::from_str::<Vec<PutEventsEntry>>(unknown).is_err());
    }
}
