//! Redaction of URLs and target ARNs for everything a person or another program may read
//! besides the rule itself: logs, dead-letter headers, events and error messages.
//!
//! A webhook URL is often a credential: a Slack incoming-webhook URL carries its token in
//! the path, other services put a signature in the query or a password in the user info.
//! So a URL is shown as its scheme, host and port only, followed by `/...`:
//!
//! | input | shown |
//! |---|---|
//! | `https://hooks.slack.com/services/T0/B0/XyZ` | `https://hooks.slack.com/...` |
//! | `http://user:pw@127.0.0.1:8080/hook?token=t#f` | `http://127.0.0.1:8080/...` |
//! | `HTTPS://[2001:DB8::1]:8443` | `https://[2001:db8::1]:8443/...` |
//! | `not a url`, `hooks.slack.com/x`, `http:///x` | `(not a URL)` |
//!
//! The `/...` is always there, whether or not the URL had a path, so a redacted URL is
//! recognisable as one; it is ASCII because it goes into NATS message headers. Scheme
//! and host are lower-cased (neither is case-sensitive). Anything that is not
//! `scheme://host[:port]…` with a well-formed host and port is shown as `(not a URL)`:
//! there is no safe part to keep from text that cannot be read as a URL.
//!
//! Target ARNs that name a NATS subject (`nats:…`) or an AWS resource (`arn:…`) hold no
//! credential and are shown as they are ([`redact_target_arn`]); anything else a target
//! ARN may be (a webhook URL, or text that is neither) goes through [`redact_url`].

/// What [`redact_url`] shows for text that is not a URL.
pub const NOT_A_URL: &str = "(not a URL)";

/// `scheme://host[:port]/...` of a URL, without user info, path, query or fragment; see
/// the [module documentation](self) for the exact format.
pub fn redact_url(url: &str) -> String {
    parse(url.trim()).map_or_else(
        || NOT_A_URL.to_owned(),
        |(scheme, host, port)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            format!(
                "{}://{}{port}/...",
                scheme.to_ascii_lowercase(),
                host.to_ascii_lowercase()
            )
        },
    )
}

/// A target ARN as shown outside the rule: `nats:` and `arn:` ARNs as they are, anything
/// else (webhook URLs) through [`redact_url`].
pub fn redact_target_arn(arn: &str) -> String {
    let shown_as_is = (arn.starts_with("nats:") || arn.starts_with("arn:"))
        && !arn.contains("://")
        && !arn.chars().any(char::is_whitespace);
    if shown_as_is {
        arn.to_owned()
    } else {
        redact_url(arn)
    }
}

/// `text` with every URL in it (`scheme://…`, up to a quote, a backslash, whitespace or
/// an angle bracket) shown as [`redact_url`] shows it: for text that may quote a URL
/// without saying where, such as a delivery that cannot be decoded or an error message.
pub fn redact_urls_in(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = text[search..].find("://") {
        let sep = search + found;
        let mut start = sep;
        while start > copied
            && bytes
                .get(start - 1)
                .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            start -= 1;
        }
        // A scheme starts with a letter; skip leading digits or signs.
        while start < sep && !bytes[start].is_ascii_alphabetic() {
            start += 1;
        }
        let end = text[sep..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\\' | '\'' | '<' | '>'))
            .map_or(text.len(), |at| sep + at);
        if start == sep {
            search = sep + 3;
            continue;
        }
        out.push_str(&text[copied..start]);
        out.push_str(&redact_url(&text[start..end]));
        copied = end;
        search = end.max(sep + 3);
    }
    out.push_str(&text[copied..]);
    out
}

/// Scheme, host and port of `scheme://[userinfo@]host[:port][/path][?query][#fragment]`.
fn parse(url: &str) -> Option<(&str, &str, Option<u16>)> {
    let (scheme, rest) = url.split_once("://")?;
    let mut chars = scheme.chars();
    let scheme_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return None;
    }
    // The authority ends where the path, query or fragment starts; a backslash ends it
    // too, as browsers read it as a slash.
    let authority = rest.split(['/', '?', '#', '\\']).next().unwrap_or_default();
    // User info may itself hold `@`: the host follows the last one.
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let (inside, after) = bracketed.split_once(']')?;
        let ipv6_ok = inside.contains(':')
            && inside
                .chars()
                .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.'));
        if !ipv6_ok {
            return None;
        }
        let host = &host_port[..inside.len() + 2];
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    let host_ok = !host.is_empty()
        && (host.starts_with('[')
            || host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')));
    if !host_ok {
        return None;
    }
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => {
            Some(p.parse::<u16>().ok()?)
        }
        Some(_) => return None,
    };
    Some((scheme, host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_keeps_scheme_host_and_port_only() {
        let cases = [
            (
                "https://hooks.slack.com/services/T0/B0/XyZsecret",
                "https://hooks.slack.com/...",
            ),
            (
                "https://user:pw@example.com:8443/hook?token=s3cret#frag",
                "https://example.com:8443/...",
            ),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/..."),
            ("http://example.com/", "http://example.com/..."),
            ("http://example.com?token=s3cret", "http://example.com/..."),
            ("http://example.com#s3cret", "http://example.com/..."),
            ("HTTPS://Hooks.Slack.COM/X", "https://hooks.slack.com/..."),
            ("  https://example.com/x  ", "https://example.com/..."),
            // The host follows the last `@`; a password may hold one.
            ("https://u:p@ss@example.com/x", "https://example.com/..."),
            ("https://token@example.com", "https://example.com/..."),
            (
                "ftp://ops:pw@files.example.com/x",
                "ftp://files.example.com/...",
            ),
            // A backslash ends the authority, as browsers read it.
            (r"http://example.com\s3cret", "http://example.com/..."),
        ];
        for (input, shown) in cases {
            assert_eq!(redact_url(input), shown, "{input}");
        }
    }

    #[test]
    fn urls_inside_text_are_redacted() {
        let text = r#"{"target":{"arn":"https://hooks.slack.com/services/T0/B0/s3cret?sig=q1"},"n":"x://"}"#;
        assert_eq!(
            redact_urls_in(text),
            r#"{"target":{"arn":"https://hooks.slack.com/..."},"n":"(not a URL)"}"#
        );
        assert_eq!(
            redact_urls_in("see http://u:pw@h:81/p and 1https://h/x\\ end"),
            "see http://h:81/... and 1https://h/...\\ end"
        );
        assert_eq!(redact_urls_in("no url :// here"), "no url :// here");
        assert_eq!(redact_urls_in("://x"), "://x");
        assert_eq!(redact_urls_in(""), "");
    }

    #[test]
    fn ipv6_hosts_keep_their_brackets() {
        assert_eq!(
            redact_url("http://[::1]:8080/hook?token=s3cret"),
            "http://[::1]:8080/..."
        );
        assert_eq!(
            redact_url("https://user:pw@[2001:DB8::1]/x"),
            "https://[2001:db8::1]/..."
        );
        assert_eq!(
            redact_url("http://[::ffff:192.0.2.1]"),
            "http://[::ffff:192.0.2.1]/..."
        );
        // Not an address inside the brackets, or no closing bracket.
        assert_eq!(redact_url("http://[s3cret]/x"), NOT_A_URL);
        assert_eq!(redact_url("http://[::1/s3cret"), NOT_A_URL);
        assert_eq!(redact_url("http://[::1]s3cret/x"), NOT_A_URL);
    }

    #[test]
    fn text_that_is_not_a_url_is_not_shown() {
        for input in [
            "",
            "not a url?token=s3cret",
            "hooks.slack.com/services/s3cret",
            "http:///s3cret",
            "http://",
            "://example.com/s3cret",
            "1http://example.com/s3cret",
            "ht tp://example.com/s3cret",
            "http://exa mple.com/s3cret",
            "http://example.com:99999/s3cret",
            "http://example.com:80a/s3cret",
            "http://example.com:/s3cret",
            "http://user:s3cret@/path",
            "mailto:s3cret@example.com",
            "http://ex%41mple.com/s3cret",
        ] {
            assert_eq!(redact_url(input), NOT_A_URL, "{input}");
        }
    }

    #[test]
    fn nothing_after_the_authority_ever_survives() {
        let secret = "s3cret";
        for prefix in [
            "https://example.com/",
            "https://example.com:1/",
            "https://x:y@example.com/",
            "https://[::1]/",
            "https://example.com?",
            "https://example.com#",
            "garbage ",
        ] {
            for suffix in ["", "/a", "?q", "#f", "@host", ":1", "/é"] {
                let url = format!("{prefix}{secret}{suffix}");
                assert!(!redact_url(&url).contains(secret), "{url}");
            }
        }
    }

    #[test]
    fn nats_and_aws_arns_are_shown_as_they_are_and_urls_redacted() {
        assert_eq!(
            redact_target_arn("nats:alerting.notify"),
            "nats:alerting.notify"
        );
        assert_eq!(
            redact_target_arn("arn:aws:events:us-east-1:1:event-bus/other"),
            "arn:aws:events:us-east-1:1:event-bus/other"
        );
        assert_eq!(
            redact_target_arn("https://hooks.slack.com/services/T0/B0/s3cret"),
            "https://hooks.slack.com/..."
        );
        assert_eq!(redact_target_arn("sqs s3cret"), NOT_A_URL);
        // A URL dressed as an ARN is still a URL.
        assert_eq!(
            redact_target_arn("nats:http://example.com/s3cret"),
            NOT_A_URL
        );
    }
}
