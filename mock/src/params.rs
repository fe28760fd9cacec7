//! Query-string parsing that never rejects: handlers decide what a missing or odd parameter
//! means, the way WeChat does (errcodes, not HTTP 400).

/// Decoded query pairs, in the order they were sent.
#[derive(Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        Params(
            raw.map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default(),
        )
    }

    /// The first value of `key`; an empty value counts as missing.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Whether `key` is present at all (even with an empty value).
    pub(crate) fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// The keys in the order they were sent.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_keeps_order() {
        let p = Params::parse(Some("b=1&a=x%2By&c=&a=2&t=a+b"));
        assert_eq!(p.keys().collect::<Vec<_>>(), ["b", "a", "c", "a", "t"]);
        assert_eq!(p.get("a"), Some("x+y"));
        assert_eq!(p.get("c"), None);
        assert!(p.has("c"));
        assert_eq!(p.get("t"), Some("a b"));
        assert_eq!(Params::parse(None).get("a"), None);
    }
}
