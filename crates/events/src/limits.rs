//! Limits on what a PutEvents entry may hold beyond EventBridge's request size: the
//! lengths AWS documents for `Source` and `DetailType`, and a nesting depth for `Detail`
//! that every later stage can read.
//!
//! | field | limit | why |
//! |---|---|---|
//! | `Source` | 1 to 256 characters, not blank | EventBridge's own limit |
//! | `DetailType` | 1 to 128 characters, not blank | EventBridge's own limit |
//! | `Detail` | at most [`MAX_DETAIL_DEPTH`] nested objects/arrays | see below |
//!
//! An accepted event is read back by the router (the event: one level above the detail),
//! the deliverer (a delivery document: two levels above) and the DLQ, each with
//! serde_json, which refuses input nested 128 levels deep or more. A detail nested up to
//! [`MAX_DETAIL_DEPTH`] levels leaves every one of them room, so what PutEvents accepts,
//! delivery can read; deeper details are refused at PutEvents with `InvalidArgument`
//! instead of being stored and then dropped.

use crate::envelope::{EntryError, EntryErrorCode};

/// Longest `Source`, in characters (EventBridge: 256).
pub const MAX_SOURCE_CHARS: usize = 256;

/// Longest `DetailType`, in characters (EventBridge: 128).
pub const MAX_DETAIL_TYPE_CHARS: usize = 128;

/// Deepest accepted nesting of objects and arrays in `Detail`; `{}` is 1, `{"a":[1]}` is 2.
pub const MAX_DETAIL_DEPTH: usize = 100;

/// How deep objects and arrays nest in JSON text (brackets inside strings do not count).
/// Text that is not JSON gives some number; its parse fails later anyway.
pub fn json_depth(text: &str) -> usize {
    let mut depth = 0usize;
    let mut deepest = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for b in text.bytes() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Checks `Time`: the envelope writes it as `YYYY-MM-DDThh:mm:ssZ`, which must read back,
/// so only years 0 to 9999 can be stored (a year −1 was accepted and then dead-lettered).
pub fn check_time(time: &time::OffsetDateTime) -> Result<(), EntryError> {
    let written = crate::envelope::event_time::format(time);
    if crate::envelope::parse_time(&written).is_err() {
        return Err(invalid(
            "Time",
            "Time must be between 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z.",
        ));
    }
    Ok(())
}

fn invalid(field: &str, reason: &str) -> EntryError {
    EntryError::new(
        EntryErrorCode::InvalidArgument,
        format!("Parameter {field} is not valid. Reason: {reason}"),
    )
}

/// Checks `Source` and `DetailType` (already known to be present) and the depth of
/// `Detail`.
pub fn check_entry(source: &str, detail_type: &str, detail: &str) -> Result<(), EntryError> {
    if source.trim().is_empty() {
        return Err(EntryError::required("Source"));
    }
    if detail_type.trim().is_empty() {
        return Err(EntryError::required("DetailType"));
    }
    if source.chars().count() > MAX_SOURCE_CHARS {
        return Err(invalid(
            "Source",
            &format!("Source must be at most {MAX_SOURCE_CHARS} characters long."),
        ));
    }
    if detail_type.chars().count() > MAX_DETAIL_TYPE_CHARS {
        return Err(invalid(
            "DetailType",
            &format!("DetailType must be at most {MAX_DETAIL_TYPE_CHARS} characters long."),
        ));
    }
    if json_depth(detail) > MAX_DETAIL_DEPTH {
        return Err(invalid(
            "Detail",
            &format!(
                "Detail must not nest objects and arrays more than {MAX_DETAIL_DEPTH} levels deep."
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        format!(
            "{}{}",
            "{\"a\":".repeat(depth),
            "1".to_owned() + &"}".repeat(depth)
        )
    }

    #[test]
    fn depth_counts_containers_not_brackets_in_strings() {
        assert_eq!(json_depth("1"), 0);
        assert_eq!(json_depth("{}"), 1);
        assert_eq!(json_depth(r#"{"a":[1,{"b":2}],"c":{}}"#), 3);
        assert_eq!(json_depth(r#"{"a":"[[[{{{\"]]]"}"#), 1);
        assert_eq!(json_depth(&nested(100)), 100);
    }

    #[test]
    fn the_depth_limit_leaves_room_for_the_envelope_and_the_delivery() {
        // The deepest accepted detail, wrapped twice (event, delivery document), is still
        // read by serde_json.
        let wrapped = format!("{{\"d\":{{\"e\":{}}}}}", nested(MAX_DETAIL_DEPTH));
        assert!(serde_json::from_str::<serde_json::Value>(&wrapped).is_ok());
        assert!(check_entry("s", "t", &nested(MAX_DETAIL_DEPTH)).is_ok());
        let err = check_entry("s", "t", &nested(MAX_DETAIL_DEPTH + 1)).unwrap_err();
        assert_eq!(err.code, EntryErrorCode::InvalidArgument);
        assert!(
            err.message.starts_with("Parameter Detail is not valid."),
            "{err}"
        );
    }

    #[test]
    fn a_time_must_read_back() {
        let ok = time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        assert!(check_time(&ok).is_ok());
        let year_minus_one = time::Date::from_calendar_date(-1, time::Month::January, 1)
            .unwrap()
            .midnight()
            .assume_utc();
        let err = check_time(&year_minus_one).unwrap_err();
        assert!(
            err.message.starts_with("Parameter Time is not valid."),
            "{err}"
        );
    }

    #[test]
    fn lengths_are_eventbridges() {
        let s256 = "s".repeat(256);
        let t128 = "t".repeat(128);
        assert!(check_entry(&s256, &t128, "{}").is_ok());
        // Characters, not bytes.
        assert!(check_entry(&"é".repeat(256), &"é".repeat(128), "{}").is_ok());
        let err = check_entry(&"s".repeat(257), "t", "{}").unwrap_err();
        assert_eq!(
            err.message,
            "Parameter Source is not valid. Reason: Source must be at most 256 characters long."
        );
        let err = check_entry("s", &"t".repeat(129), "{}").unwrap_err();
        assert_eq!(
            err.message,
            "Parameter DetailType is not valid. Reason: DetailType must be at most 128 characters long."
        );
        let err = check_entry("  \t", "t", "{}").unwrap_err();
        assert_eq!(
            err.message,
            "Parameter Source is not valid. Reason: Source is a required argument."
        );
        assert!(check_entry("s", " ", "{}").is_err());
    }
}
