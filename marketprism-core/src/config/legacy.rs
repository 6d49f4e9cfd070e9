//! The original system's environment variables that need more than a rename: the discovery
//! backend (`DISCOVERY_URL`, the original's `CONSUL_URL` + `CONSUL_DATACENTER`).
//!
//! | variable | becomes |
//! |---|---|
//! | `DISCOVERY_URL` | `discovery.url`, as written |
//! | `CONSUL_URL` (when `DISCOVERY_URL` is unset) | `discovery.url`: `http://h:8500` → `consul://h:8500`, `https://h:8501` → `consul+https://h:8501`, `h:8500` → `consul://h:8500`, `consul://…` / `consul+https://…` kept |
//! | `CONSUL_DATACENTER` | `?dc=` added to a `consul`/`consul+https` discovery URL from either variable that has no `dc` yet |
//!
//! `MARKETPRISM_DISCOVERY__URL` is applied after these and wins.

/// `(variable, value)` for `discovery.url` from the environment, if any.
///
/// ```
/// use marketprism_core::config::discovery_url_from_env;
/// let env = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
/// assert_eq!(
///     discovery_url_from_env(&env(&[("CONSUL_URL", "http://consul:8500"), ("CONSUL_DATACENTER", "dc2")])),
///     Some(("CONSUL_URL", "consul://consul:8500?dc=dc2".to_string()))
/// );
/// assert_eq!(
///     discovery_url_from_env(&env(&[("CONSUL_URL", "https://consul:8501"), ("DISCOVERY_URL", "etcd://e:2379")])),
///     Some(("DISCOVERY_URL", "etcd://e:2379".to_string()))
/// );
/// assert_eq!(discovery_url_from_env(&env(&[("CONSUL_DATACENTER", "dc2")])), None);
/// ```
pub fn discovery_url_from_env(vars: &[(String, String)]) -> Option<(&'static str, String)> {
    let get = |name: &str| {
        vars.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let (origin, url) = match (get("DISCOVERY_URL"), get("CONSUL_URL")) {
        (Some(url), _) => ("DISCOVERY_URL", url),
        (None, Some(consul)) => ("CONSUL_URL", consul_scheme(&consul)),
        (None, None) => return None,
    };
    let is_consul = url.starts_with("consul://") || url.starts_with("consul+https://");
    let url = match get("CONSUL_DATACENTER") {
        Some(dc) if is_consul && !has_param(&url, "dc") => {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}dc={dc}")
        }
        _ => url,
    };
    Some((origin, url))
}

/// The original's `CONSUL_URL` (an HTTP address of the agent) as our discovery URL.
fn consul_scheme(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("http://") {
        format!("consul://{rest}")
    } else if let Some(rest) = url.strip_prefix("https://") {
        format!("consul+https://{rest}")
    } else if url.contains("://") {
        url.to_owned()
    } else {
        format!("consul://{url}")
    }
}

fn has_param(url: &str, key: &str) -> bool {
    url.split_once('?')
        .is_some_and(|(_, q)| q.split('&').any(|kv| kv.split('=').next() == Some(key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn consul_urls_of_the_original() {
        for (given, want) in [
            ("http://consul:8500", "consul://consul:8500"),
            ("https://consul:8501", "consul+https://consul:8501"),
            ("consul:8500", "consul://consul:8500"),
            (
                "consul+https://c:8501?token=t",
                "consul+https://c:8501?token=t",
            ),
        ] {
            assert_eq!(
                discovery_url_from_env(&env(&[("CONSUL_URL", given)])),
                Some(("CONSUL_URL", want.to_owned()))
            );
        }
        // An explicit dc is kept; CONSUL_DATACENTER never touches another backend.
        assert_eq!(
            discovery_url_from_env(&env(&[
                ("CONSUL_URL", "consul://c:8500?dc=a"),
                ("CONSUL_DATACENTER", "b")
            ])),
            Some(("CONSUL_URL", "consul://c:8500?dc=a".to_owned()))
        );
        assert_eq!(
            discovery_url_from_env(&env(&[
                ("DISCOVERY_URL", "nats://n:4222"),
                ("CONSUL_DATACENTER", "b")
            ])),
            Some(("DISCOVERY_URL", "nats://n:4222".to_owned()))
        );
    }
}
