//! A cookie jar the test drives by hand, so it can see (and measure) the exact `Cookie`
//! header a browser would send: applies `Set-Cookie` (a `Max-Age=0` deletes), keeps one
//! cookie per name, no path or domain matching (tests talk to one origin). Cookies are sent
//! in creation order, as browsers do for cookies of one path (RFC 6265 §5.4); replacing a
//! cookie keeps its place.
#![allow(dead_code, unreachable_pub)]

/// Cookies by name, in creation order.
#[derive(Debug, Default, Clone)]
pub struct Jar {
    cookies: Vec<(String, String)>,
}

impl Jar {
    /// Applies every `Set-Cookie` of `res`.
    pub fn absorb(&mut self, res: &reqwest::Response) {
        for v in res.headers().get_all("set-cookie") {
            let Ok(line) = v.to_str() else { continue };
            let mut parts = line.split(';');
            let Some((name, value)) = parts.next().and_then(|nv| nv.split_once('=')) else {
                continue;
            };
            let deleted = parts.any(|a| {
                let a = a.trim().to_ascii_lowercase();
                a == "max-age=0" || a.starts_with("max-age=-")
            });
            if deleted {
                self.cookies.retain(|(n, _)| n != name.trim());
            } else {
                self.set(name.trim(), value.trim());
            }
        }
    }

    /// The `Cookie` header value ("" when empty).
    pub fn header(&self) -> String {
        self.cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// How many cookies have a name starting with `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        self.cookies
            .iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .count()
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets a cookie directly (a planted or forged one).
    pub fn set(&mut self, name: &str, value: &str) {
        match self.cookies.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value.to_owned(),
            None => self.cookies.push((name.to_owned(), value.to_owned())),
        }
    }
}
