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
///
/// What is checked is the *output*: dot segments (`/..//evil.com`, `/%2e%2e//evil.com`) are
/// resolved first, so they cannot collapse into a protocol-relative `//evil.com` after the
/// check. The result is a fixed point: checking it again gives it back unchanged.
pub(crate) fn safe_return_to(candidate: Option<&str>, allowed: &[String]) -> String {
    candidate
        .and_then(|c| check(c, allowed))
        .unwrap_or_else(|| "/".to_owned())
}

/// Whether a resolved local path is one a browser keeps on this origin.
fn local_output_ok(out: &str) -> bool {
    out.starts_with('/')
        && !out.starts_with("//")
        && !out.bytes().any(|b| b.is_ascii_control() || b == b'\\')
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
        // `/..//evil.com` passed the checks above but resolves to `//evil.com`: what leaves
        // here is checked again, after resolution.
        return local_output_ok(&out).then_some(out);
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
    fn dot_segments_cannot_collapse_into_another_host() {
        for evil in [
            "/..//evil.com/phish",
            "/.//evil.com",
            "/a/..//evil.com",
            "/%2e%2e//evil.com",
            "/%2E%2E//evil.com",
            "/%2e%2E//evil.com",
            "/x/%2e%2e//evil.com",
            "/x/.%2e//evil.com",
            "/x/%2e.//evil.com",
            "/.././/evil.com",
            "/x/..//..//evil.com",
            "/a/b/../..//evil.com",
            "/..///evil.com",
            "/././/evil.com",
        ] {
            let out = safe(evil);
            assert_eq!(out, "/", "{evil:?} gave {out:?}");
        }
        // Dot segments that stay local are still resolved, not refused.
        assert_eq!(safe("/a/./b/../c"), "/a/c");
        assert_eq!(safe("/x/%2e%2e/y"), "/y");
        assert_eq!(safe("/a//b"), "/a//b", "an inner // is a local path");
        assert_eq!(safe("/x/%2e//evil.com"), "/x//evil.com");
    }

    /// A tiny deterministic generator (xorshift64*): no test-only dependency.
    struct Gen(u64);

    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            let i = usize::try_from(self.next() % from.len() as u64).unwrap_or(0);
            from[i]
        }
    }

    #[test]
    fn the_output_is_always_safe_and_a_fixed_point() {
        const PIECES: &[&str] = &[
            "/",
            "/",
            "/",
            "//",
            "\\",
            "\\",
            ".",
            "..",
            "%2e",
            "%2E",
            "%2e%2e",
            ".%2e",
            "%2f",
            "%2F",
            "%5c",
            "%5C",
            "evil.com",
            "a",
            "b",
            "?",
            "#",
            "&",
            "=",
            "@",
            ":",
            "https:",
            "http://evil.com",
            "https://shop.example.com",
            "javascript:",
            "\t",
            "\n",
            " ",
            "%20",
            "%00",
            "%",
            "é",
            "中",
            ";",
            "~",
            "%252e",
        ];
        let allowed = ["https://shop.example.com".to_owned()];
        let mut g = Gen(0x9E37_79B9_7F4A_7C15);
        let base = Url::parse("http://local.invalid/").unwrap();
        for _ in 0..50_000 {
            let mut input = String::new();
            if !g.next().is_multiple_of(4) {
                input.push('/');
            }
            for _ in 0..(g.next() % 9) {
                input.push_str(g.pick(PIECES));
            }
            let out = safe_return_to(Some(&input), &allowed);
            assert!(
                !out.starts_with("//") && !out.starts_with("/\\"),
                "{input:?} gave {out:?}"
            );
            assert_eq!(
                safe_return_to(Some(&out), &allowed),
                out,
                "not a fixed point: {input:?} gave {out:?}"
            );
            if out.starts_with('/') {
                let resolved = base.join(&out).unwrap();
                assert_eq!(resolved.origin(), base.origin(), "{input:?} gave {out:?}");
            } else {
                let url = Url::parse(&out).unwrap();
                assert_eq!(url.origin().ascii_serialization(), allowed[0], "{input:?}");
            }
        }
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
