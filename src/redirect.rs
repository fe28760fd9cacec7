//! `return_to`: where a person goes after logging in, checked so it can never be an open
//! redirect.

use url::Url;

/// The longest `return_to` kept; longer ones fall back to `/`.
const MAX_LEN: usize = 2048;

/// Returns `candidate` when it is safe to redirect to, else `/`.
///
/// Safe means a local path (`/…`, but not `//host` or `/\host`, and nothing a browser would
/// turn into either by dropping tabs and newlines), or an absolute http(s) URL on one of the
/// `allowed` origins (already normalised with `Url::origin`).
pub(crate) fn safe_return_to(candidate: Option<&str>, allowed: &[String]) -> String {
    candidate
        .and_then(|c| check(c, allowed))
        .unwrap_or_else(|| "/".to_owned())
}

fn check(candidate: &str, allowed: &[String]) -> Option<String> {
    if candidate.is_empty() || candidate.len() > MAX_LEN {
        return None;
    }
    // Browsers strip ASCII tab/newline inside URLs and treat `\` like `/`: refuse them all,
    // and every other control character, rather than guess what a browser would make of it.
    if candidate
        .bytes()
        .any(|b| b.is_ascii_control() || b == b'\\')
    {
        return None;
    }
    if let Some(rest) = candidate.strip_prefix('/') {
        if rest.starts_with('/') {
            return None;
        }
        // Resolve against a placeholder origin: a local path must stay on it.
        let base = Url::parse("http://local.invalid/").ok()?;
        let url = base.join(candidate).ok()?;
        if url.origin() != base.origin() {
            return None;
        }
        let mut out = url.path().to_owned();
        if let Some(q) = url.query() {
            out.push('?');
            out.push_str(q);
        }
        if let Some(f) = url.fragment() {
            out.push('#');
            out.push_str(f);
        }
        return Some(out);
    }
    let url = Url::parse(candidate).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.username() != "" || url.password().is_some()
    {
        return None;
    }
    let origin = url.origin().ascii_serialization();
    allowed.contains(&origin).then(|| url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn safe(c: &str) -> String {
        safe_return_to(Some(c), &["https://shop.example.com".to_owned()])
    }

    #[test]
    fn local_paths_are_kept() {
        assert_eq!(safe("/profile"), "/profile");
        assert_eq!(safe("/a/b?x=1&y=2#top"), "/a/b?x=1&y=2#top");
        assert_eq!(safe("/a/../b"), "/b");
        assert_eq!(safe_return_to(None, &[]), "/");
    }

    #[test]
    fn every_open_redirect_trick_lands_on_root() {
        for evil in [
            "//evil.com",
            "///evil.com",
            "/\\evil.com",
            "\\\\evil.com",
            "/\t/evil.com",
            "/\n/evil.com",
            "https://evil.com",
            "http://evil.com/profile",
            "%2F%2Fevil.com",
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "evil.com",
            "https://shop.example.com@evil.com",
            "https://user:pw@shop.example.com/",
            "",
        ] {
            assert_eq!(safe(evil), "/", "{evil:?}");
        }
        assert_eq!(safe(&format!("/{}", "a".repeat(3000))), "/");
    }

    #[test]
    fn allow_listed_origins_are_followed() {
        assert_eq!(
            safe("https://shop.example.com/cart?id=1"),
            "https://shop.example.com/cart?id=1"
        );
        assert_eq!(
            safe("https://SHOP.example.com/"),
            "https://shop.example.com/"
        );
        assert_eq!(
            safe("http://shop.example.com/"),
            "/",
            "scheme is part of the origin"
        );
        assert_eq!(safe("https://shop.example.com.evil.com/"), "/");
    }
}
