//! Redaction of what is logged: the one place that decides how much of a URL a log line or an
//! error message may show.

/// A URL as it may be logged: scheme, host and port are kept; user info, path and query are
/// replaced, since that is where services put their tokens
/// (`https://user:pass@host/hooks/T0K3N?key=...`). Something that is not a URL is shown only
/// by its length. A list of URLs separated by commas is redacted item by item.
///
/// ```
/// use marketprism_core::redact::url;
/// assert_eq!(url("https://u:p@hooks.example/T/B/secret?x=1"), "https://***@hooks.example/***?***");
/// assert_eq!(url("http://127.0.0.1:8123"), "http://127.0.0.1:8123");
/// assert_eq!(url("redis://:pw@127.0.0.1:6379/0"), "redis://***@127.0.0.1:6379/***");
/// assert_eq!(url("nats://a:4222,nats://tok@b:4222"), "nats://a:4222,nats://***@b:4222");
/// assert_eq!(url("not a url"), "<9 characters, not a URL>");
/// ```
pub fn url(url: &str) -> String {
    url.split(',')
        .map(|one| one_url(one.trim()))
        .collect::<Vec<_>>()
        .join(",")
}

fn one_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://").filter(|(s, _)| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    }) else {
        return format!("<{} characters, not a URL>", url.chars().count());
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((_, host)) => ("***@", host),
        None => ("", authority),
    };
    let (path, query) = match tail.split_once('?') {
        Some((p, _)) => (p, "?***"),
        None => (tail.split('#').next().unwrap_or_default(), ""),
    };
    let path = if path.is_empty() || path == "/" {
        path
    } else {
        "/***"
    };
    format!("{scheme}://{userinfo}{host}{path}{query}")
}

#[cfg(test)]
mod tests {
    use super::url;

    #[test]
    fn keeps_nothing_secret() {
        for (raw, shown) in [
            (
                "https://hooks.slack.com/services/T00/B00/XXXX",
                "https://hooks.slack.com/***",
            ),
            ("http://h/?token=abc", "http://h/?***"),
            ("http://h#frag", "http://h"),
            ("etcd://user:pw@127.0.0.1:2379", "etcd://***@127.0.0.1:2379"),
            ("http://a@b@c/x", "http://***@c/***"),
            ("://x", "<4 characters, not a URL>"),
            ("", "<0 characters, not a URL>"),
        ] {
            assert_eq!(url(raw), shown, "{raw}");
            assert!(!url(raw).contains("pw") && !url(raw).contains("XXXX"));
        }
    }
}
