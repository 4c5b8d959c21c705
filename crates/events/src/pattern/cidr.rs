//! IP address ranges for the `cidr` operator (IPv4 and IPv6), parsed on `std::net`.
//!
//! A range is stored as inclusive bounds over the address as a 128-bit integer, with the
//! family kept apart so that an IPv4 event value never falls in an IPv6 range.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::PatternError;

/// An inclusive range of addresses of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpRange {
    v6: bool,
    low: u128,
    high: u128,
}

impl IpRange {
    /// Parses `a.b.c.d/n` or `x:y::z/n` with AWS's reason texts.
    pub(crate) fn parse_cidr(text: &str) -> Result<Self, PatternError> {
        let mut parts = text.split('/');
        let (Some(addr), Some(mask), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(PatternError::new("Malformed CIDR, one '/' required"));
        };
        if mask.is_empty() {
            // AWS splits with Java's String.split, which drops the empty trailing field.
            return Err(PatternError::new("Malformed CIDR, one '/' required"));
        }
        let bits: i64 = parse_java_int(mask)
            .ok_or_else(|| PatternError::new("Malformed CIDR, mask bits must be an integer"))?;
        if bits < 0 {
            return Err(PatternError::new(
                "Malformed CIDR, mask bits must not be negative",
            ));
        }
        let ip = parse_pattern_ip(addr)?;
        let (v6, width, value) = match ip {
            IpAddr::V4(a) => (false, 32u32, u128::from(u32::from(a))),
            IpAddr::V6(a) => (true, 128u32, u128::from(a)),
        };
        // AWS rejects a full-width mask in `cidr` (a single address is written as a plain value).
        if !v6 && bits > 31 {
            return Err(PatternError::new("IPv4 mask bits must be < 32"));
        }
        if v6 && bits > 127 {
            return Err(PatternError::new("IPv6 mask bits must be < 128"));
        }
        let host_bits = width - u32::try_from(bits).unwrap_or(0);
        let host_mask: u128 = if host_bits >= 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        };
        Ok(Self {
            v6,
            low: value & !host_mask,
            high: value | host_mask,
        })
    }

    /// The one-address range of an exact-match string that is an IP address, or `None`.
    ///
    /// EventBridge compares exact values that look like IP addresses as addresses.
    pub(crate) fn single_if_ip(text: &str) -> Option<Self> {
        let ip = parse_event_ip(text)?;
        let (v6, value) = split(ip);
        Some(Self {
            v6,
            low: value,
            high: value,
        })
    }

    /// Whether an event string is an address inside this range.
    pub(crate) fn contains_str(&self, text: &str) -> bool {
        match parse_event_ip(text) {
            Some(ip) => self.contains(ip),
            None => false,
        }
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let (v6, value) = split(ip);
        v6 == self.v6 && self.low <= value && value <= self.high
    }
}

fn split(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(a) => (false, u128::from(u32::from(a))),
        IpAddr::V6(a) => (true, u128::from(a)),
    }
}

/// Java's `Integer.parseInt`: optional sign, ASCII digits, 32-bit range.
fn parse_java_int(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: i64 = text.parse().ok()?;
    (i64::from(i32::MIN)..=i64::from(i32::MAX))
        .contains(&value)
        .then_some(value)
}

fn looks_v4(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn looks_v6(text: &str) -> bool {
    text.contains(':') && text.bytes().all(|b| b.is_ascii_hexdigit() || b == b':')
}

/// Dotted quad with optional leading zeros in each octet.
fn parse_v4_lenient(text: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = text.split('.');
    for octet in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *octet = part.parse().ok()?;
    }
    parts.next().is_none().then(|| Ipv4Addr::from(octets))
}

fn parse_pattern_ip(text: &str) -> Result<IpAddr, PatternError> {
    if looks_v4(text) {
        parse_v4_lenient(text)
            .map(IpAddr::V4)
            .ok_or_else(|| PatternError::new(format!("Invalid IP address: {text}")))
    } else if looks_v6(text) {
        text.parse::<Ipv6Addr>()
            .map(IpAddr::V6)
            .map_err(|_| PatternError::new(format!("Invalid IP address: {text}")))
    } else {
        Err(PatternError::new(format!("Nonstandard IP address: {text}")))
    }
}

/// An event value as an address, if it is one (anything else simply does not match).
fn parse_event_ip(text: &str) -> Option<IpAddr> {
    if looks_v4(text) {
        parse_v4_lenient(text).map(IpAddr::V4)
    } else if looks_v6(text) {
        text.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn v4_range_contains_its_addresses() {
        let r = IpRange::parse_cidr("10.0.0.0/24").unwrap();
        assert!(r.contains_str("10.0.0.255"));
        assert!(r.contains_str("10.0.0.0"));
        assert!(!r.contains_str("10.0.1.0"));
        assert!(!r.contains_str("10.0.0.256"));
        assert!(!r.contains_str("::1"));
    }

    #[test]
    fn v6_range_compares_expanded_forms() {
        let r = IpRange::parse_cidr("2001:db8:1234:1a00::/64").unwrap();
        assert!(r.contains_str("2001:0db8:1234:1a00:0000:0000:0000:0000"));
        assert!(!r.contains_str("2001:0db8:123f:1a01:0000:0000:0000:0000"));
    }

    #[test]
    fn errors_use_aws_reasons() {
        let reason = |s: &str| IpRange::parse_cidr(s).unwrap_err().reason().to_owned();
        assert_eq!(reason("bad-filter"), "Malformed CIDR, one '/' required");
        assert_eq!(
            reason("bad-/64filter"),
            "Malformed CIDR, mask bits must be an integer"
        );
        assert_eq!(reason("xx.11.xx/8"), "Nonstandard IP address: xx.11.xx");
        assert_eq!(reason("10.0.0.0/32"), "IPv4 mask bits must be < 32");
        assert_eq!(
            reason("10.0.0.0/-1"),
            "Malformed CIDR, mask bits must not be negative"
        );
        assert_eq!(reason("300.0.0.0/8"), "Invalid IP address: 300.0.0.0");
    }

    #[test]
    fn zero_mask_covers_the_family() {
        let r = IpRange::parse_cidr("0.0.0.0/0").unwrap();
        assert!(r.contains_str("255.255.255.255"));
    }
}
