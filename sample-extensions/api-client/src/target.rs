//! [`Target`]: an `http://` or `https://` URL split into the parts a `wasi:http` request takes.
//!
//! Deliberately small (no userinfo, no IDNA, no percent-decoding): the host receives the parts
//! as given and decides from the authority whether the destination is granted.

use symphony_guest_sdk::ExtensionError;

/// The URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UrlScheme {
    /// `http://`
    Http,
    /// `https://`
    Https,
}

/// Where one request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// The scheme.
    pub(crate) scheme: UrlScheme,
    /// `host[:port]`, as written.
    pub(crate) authority: String,
    /// Path and query, starting with `/` (the fragment is dropped: it never goes on the wire).
    pub(crate) path_with_query: String,
}

impl Target {
    /// Splits `url`.
    ///
    /// # Errors
    /// [`ExtensionError::InvalidInput`] for another scheme, an empty authority or one with
    /// userinfo (`user@host`).
    pub(crate) fn parse(url: &str) -> Result<Self, ExtensionError> {
        let invalid = |why: &str| ExtensionError::invalid_input(format!("url {url:?}: {why}"));
        let (scheme, rest) = if let Some(rest) = strip_prefix_ignore_case(url, "http://") {
            (UrlScheme::Http, rest)
        } else if let Some(rest) = strip_prefix_ignore_case(url, "https://") {
            (UrlScheme::Https, rest)
        } else {
            return Err(invalid("only http:// and https:// URLs are supported"));
        };
        let rest = rest.split_once('#').map_or(rest, |(before, _fragment)| before);
        let split_at = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_with_query) = rest.split_at(split_at);
        if authority.is_empty() {
            return Err(invalid("no host"));
        }
        if authority.contains('@') {
            return Err(invalid("credentials in the URL are not supported"));
        }
        let path_with_query = if path_with_query.starts_with('/') {
            path_with_query.to_owned()
        } else {
            format!("/{path_with_query}")
        };
        Ok(Self { scheme, authority: authority.to_owned(), path_with_query })
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(url: &str) -> Target {
        Target::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn splits_scheme_authority_and_path() {
        let target = parsed("http://127.0.0.1:8080/data?x=1#top");
        assert_eq!(target.scheme, UrlScheme::Http);
        assert_eq!(target.authority, "127.0.0.1:8080");
        assert_eq!(target.path_with_query, "/data?x=1");
    }

    #[test]
    fn missing_path_is_root_and_query_only_gets_a_slash() {
        assert_eq!(parsed("HTTPS://example.test").path_with_query, "/");
        assert_eq!(parsed("https://example.test").scheme, UrlScheme::Https);
        assert_eq!(parsed("http://h:1?q=2").path_with_query, "/?q=2");
    }

    #[test]
    fn rejects_other_schemes_empty_hosts_and_credentials() {
        for url in ["ftp://h/x", "127.0.0.1:80/x", "http:///x", "http://user:pw@h/x", ""] {
            assert!(matches!(Target::parse(url), Err(ExtensionError::InvalidInput(_))), "{url}");
        }
    }
}
