//! Per-client bounds on code exchanges, so that a flood of made-up codes cannot turn into a
//! flood of calls to WeChat (each costs an upstream round-trip and counts against quota).
//!
//! A client is known by its IP address (an IPv6 client by its /64): from a header trusted
//! proxies append to
//! ([`with_client_ip_header`](crate::WechatConfigBuilder::with_client_ip_header), the entry
//! as many hops from the right as there are trusted proxies), else from axum's
//! `ConnectInfo<SocketAddr>`. Each client may have [`MAX_IN_FLIGHT`] exchanges under
//! way and [`MAX_FAILURES`] refused codes per [`WINDOW`]; past that it gets `429` with
//! `Retry-After`. Every client together is held to [`MAX_IN_FLIGHT_TOTAL`], which also
//! covers requests whose client is unknown. The counters live in this process, in a bounded
//! cache.
//!
//! Starting a scan login costs a `qrcode/create` call (100,000 a day per account), so starts
//! are rate-limited too ([`StartLimits`], GCRA through `governor`): per IP address, per
//! browser and for the whole process, each a burst refilled evenly over a minute
//! ([`ScanStartLimits`](crate::ScanStartLimits)).

use std::{
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

/// Where the client's address comes from when the app runs behind proxies: the header the
/// trusted proxies append the address of whoever connected to them to, and how many of
/// them append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientIpHeader {
    /// The header, e.g. `x-forwarded-for`.
    pub(crate) name: http::HeaderName,
    /// How many trusted proxies append to it (at least 1): the client is that many entries
    /// from the right.
    pub(crate) trusted_hops: usize,
}

use http::request::Parts;

/// Exchanges one client may have under way at once.
pub(crate) const MAX_IN_FLIGHT: u32 = 8;
/// Codes WeChat may refuse for one client per [`WINDOW`] before it must wait.
pub(crate) const MAX_FAILURES: u32 = 20;
/// The window of [`MAX_FAILURES`].
pub(crate) const WINDOW: Duration = Duration::from_secs(60);
/// Exchanges under way at once in this process, all clients together.
pub(crate) const MAX_IN_FLIGHT_TOTAL: u32 = 512;
/// Clients tracked at once.
const MAX_CLIENTS: u64 = 100_000;

/// The address of the client that sent `req`, if it can be known.
///
/// With a header, the entries of every line of it are read as one list, in order; the
/// client is the entry `trusted_hops` from the right, which the first trusted proxy
/// appended (everything left of it came from the client and is not looked at). A list
/// shorter than that, or an entry that is not an IP address, means the request did not
/// come through the proxies as configured: then the connection's peer is the client.
pub(crate) fn client_ip(req: &Parts, header: Option<&ClientIpHeader>) -> Option<IpAddr> {
    let peer = || {
        req.extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_canonical())
    };
    let Some(h) = header else {
        return peer();
    };
    forwarded_client(req, h).or_else(peer)
}

/// The entry `trusted_hops` from the right of the header's list, when it is an address.
fn forwarded_client(req: &Parts, h: &ClientIpHeader) -> Option<IpAddr> {
    let mut entries = Vec::new();
    for line in req.headers.get_all(&h.name) {
        // A line that is not text cannot be split honestly: trust none of it.
        entries.extend(line.to_str().ok()?.split(',').map(str::trim));
    }
    let at = entries.len().checked_sub(h.trusted_hops)?;
    parse_address(entries[at])
}

/// `203.0.113.7`, `2001:db8::1`, and the forms with a port some balancers append
/// (`203.0.113.7:4711`, `[2001:db8::1]:4711`).
fn parse_address(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// What the per-client limits count under: an IPv4 address, or the /64 network of an IPv6
/// address (one subscriber usually has a whole /64, so counting per address would give
/// each of them 2^64 budgets).
pub(crate) fn limit_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let net = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(std::net::Ipv6Addr::from(net))
        }
        v4 => v4,
    }
}

#[derive(Debug, Default)]
struct Counters {
    in_flight: AtomicU32,
    failures: AtomicU32,
}

/// The per-client counters.
#[derive(Debug)]
pub(crate) struct ClientLimits {
    clients: moka::sync::Cache<IpAddr, Arc<Counters>>,
    total: Arc<AtomicU32>,
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self {
            clients: moka::sync::Cache::builder()
                .max_capacity(MAX_CLIENTS)
                .time_to_live(WINDOW)
                .build(),
            total: Arc::default(),
        }
    }
}

/// Why a client must wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exceeded {
    /// Too many exchanges under way.
    InFlight,
    /// Too many refused codes lately.
    Failures,
}

impl ClientLimits {
    /// A slot for one exchange by `client`, or why it must wait.
    pub(crate) fn acquire(&self, client: Option<IpAddr>) -> Result<Slot, Exceeded> {
        let counters = match client {
            Some(ip) => {
                let c = self.clients.get_with(limit_key(ip), Arc::default);
                if c.failures.load(Ordering::Relaxed) >= MAX_FAILURES {
                    return Err(Exceeded::Failures);
                }
                if c.in_flight.fetch_add(1, Ordering::AcqRel) >= MAX_IN_FLIGHT {
                    c.in_flight.fetch_sub(1, Ordering::AcqRel);
                    return Err(Exceeded::InFlight);
                }
                Some(c)
            }
            None => None,
        };
        if self.total.fetch_add(1, Ordering::AcqRel) >= MAX_IN_FLIGHT_TOTAL {
            self.total.fetch_sub(1, Ordering::AcqRel);
            if let Some(c) = &counters {
                c.in_flight.fetch_sub(1, Ordering::AcqRel);
            }
            return Err(Exceeded::InFlight);
        }
        Ok(Slot {
            counters,
            total: self.total.clone(),
        })
    }
}

/// One exchange under way; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Slot {
    counters: Option<Arc<Counters>>,
    total: Arc<AtomicU32>,
}

impl Slot {
    /// Counts a code WeChat refused against the client.
    pub(crate) fn failed(&self) {
        if let Some(c) = &self.counters {
            c.failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.total.fetch_sub(1, Ordering::AcqRel);
        if let Some(c) = &self.counters {
            c.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Clients the start limiters remember before they forget the idle ones.
const MAX_START_KEYS: usize = 100_000;

/// The rate limits on starting scan logins.
pub(crate) struct StartLimits {
    ip: governor::DefaultKeyedRateLimiter<IpAddr>,
    browser: governor::DefaultKeyedRateLimiter<String>,
    total: governor::DefaultDirectRateLimiter,
}

impl std::fmt::Debug for StartLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartLimits").finish_non_exhaustive()
    }
}

impl StartLimits {
    /// Limiters of `per_ip`, `per_browser` and `total` starts a minute (the scan start
    /// limits as `build` accepted them).
    pub(crate) fn new(per_ip: NonZeroU32, per_browser: NonZeroU32, total: NonZeroU32) -> Self {
        let q = governor::Quota::per_minute;
        Self {
            ip: governor::RateLimiter::keyed(q(per_ip)),
            browser: governor::RateLimiter::keyed(q(per_browser)),
            total: governor::RateLimiter::direct(q(total)),
        }
    }

    /// Takes one start for the client at `ip` with the browser key `browser`, or says how
    /// long it must wait.
    pub(crate) fn check(&self, ip: Option<IpAddr>, browser: Option<&str>) -> Result<(), Duration> {
        use governor::clock::{Clock as _, DefaultClock};
        let wait = |n: governor::NotUntil<_>| n.wait_time_from(DefaultClock::default().now());
        if self.browser.len() > MAX_START_KEYS {
            self.browser.retain_recent();
        }
        if self.ip.len() > MAX_START_KEYS {
            self.ip.retain_recent();
        }
        if let Some(b) = browser {
            self.browser.check_key(&b.to_owned()).map_err(wait)?;
        }
        if let Some(ip) = ip {
            self.ip.check_key(&limit_key(ip)).map_err(wait)?;
        }
        self.total.check().map_err(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1)));

    fn n(v: u32) -> NonZeroU32 {
        NonZeroU32::new(v).unwrap()
    }
    const OTHER: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2)));

    #[test]
    fn in_flight_is_bounded_per_client_and_freed_on_drop() {
        let l = ClientLimits::default();
        let slots: Vec<_> = (0..MAX_IN_FLIGHT).map(|_| l.acquire(IP).unwrap()).collect();
        assert_eq!(l.acquire(IP).unwrap_err(), Exceeded::InFlight);
        assert!(l.acquire(OTHER).is_ok(), "another client is not held up");
        drop(slots);
        assert!(l.acquire(IP).is_ok());
    }

    #[test]
    fn failures_are_bounded_per_client() {
        let l = ClientLimits::default();
        for _ in 0..MAX_FAILURES {
            l.acquire(IP).unwrap().failed();
        }
        assert_eq!(l.acquire(IP).unwrap_err(), Exceeded::Failures);
        assert!(l.acquire(OTHER).is_ok());
        assert!(
            l.acquire(None).is_ok(),
            "unknown clients share only the total"
        );
    }

    #[test]
    fn the_total_bounds_unknown_clients() {
        let l = ClientLimits::default();
        let slots: Vec<_> = (0..MAX_IN_FLIGHT_TOTAL)
            .map(|_| l.acquire(None).unwrap())
            .collect();
        assert_eq!(l.acquire(None).unwrap_err(), Exceeded::InFlight);
        assert_eq!(l.acquire(IP).unwrap_err(), Exceeded::InFlight);
        drop(slots);
        assert!(l.acquire(IP).is_ok());
    }

    #[test]
    fn starts_are_limited_per_browser_per_ip_and_in_total() {
        let l = StartLimits::new(n(4), n(2), n(6));
        assert!(l.check(IP, Some("b1")).is_ok());
        assert!(l.check(IP, Some("b1")).is_ok());
        let wait = l.check(IP, Some("b1")).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        // Another browser on the same IP, until the IP's burst is spent.
        assert!(l.check(IP, Some("b2")).is_ok());
        assert!(l.check(IP, None).is_ok());
        assert!(l.check(IP, Some("b3")).is_err(), "the IP's 4 are spent");
        // Another client, until the process's 6 are spent.
        assert!(l.check(OTHER, None).is_ok());
        assert!(l.check(None, None).is_ok());
        assert!(l.check(None, None).is_err(), "the total's 6 are spent");
    }

    fn parts(lines: &[(&str, &str)], peer: Option<&str>) -> Parts {
        let mut b = http::Request::builder();
        for (name, value) in lines {
            b = b.header(*name, *value);
        }
        let (mut parts, ()) = b.body(()).unwrap().into_parts();
        if let Some(peer) = peer {
            parts
                .extensions
                .insert(axum::extract::ConnectInfo::<SocketAddr>(
                    peer.parse().unwrap(),
                ));
        }
        parts
    }

    fn xff(hops: usize) -> ClientIpHeader {
        ClientIpHeader {
            name: http::HeaderName::from_static("x-forwarded-for"),
            trusted_hops: hops,
        }
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn the_client_is_what_the_trusted_proxies_appended() {
        const PEER: &str = "10.0.0.1:4000";
        // One appending proxy: the right-most entry; what the client sent is ignored.
        let p = parts(&[("x-forwarded-for", "1.2.3.4, 203.0.113.7")], Some(PEER));
        assert_eq!(client_ip(&p, Some(&xff(1))), ip("203.0.113.7"));
        // Two (a load balancer, then nginx): the second from the right.
        let p = parts(
            &[("x-forwarded-for", "1.2.3.4, 203.0.113.7, 10.0.0.9")],
            Some(PEER),
        );
        assert_eq!(client_ip(&p, Some(&xff(2))), ip("203.0.113.7"));
        // Several header lines are one list, in order.
        let p = parts(
            &[
                ("x-forwarded-for", "1.2.3.4"),
                ("x-forwarded-for", "203.0.113.7, 10.0.0.9"),
            ],
            Some(PEER),
        );
        assert_eq!(client_ip(&p, Some(&xff(2))), ip("203.0.113.7"));
        assert_eq!(client_ip(&p, Some(&xff(3))), ip("1.2.3.4"));
        // An overwriting proxy sends one value.
        let real = ClientIpHeader {
            name: http::HeaderName::from_static("x-real-ip"),
            trusted_hops: 1,
        };
        let p = parts(&[("x-real-ip", "203.0.113.7")], Some(PEER));
        assert_eq!(client_ip(&p, Some(&real)), ip("203.0.113.7"));
        // Ports and IPv4-mapped IPv6 addresses, as some balancers write them.
        let p = parts(&[("x-forwarded-for", "[2001:db8::1]:4711")], Some(PEER));
        assert_eq!(client_ip(&p, Some(&xff(1))), ip("2001:db8::1"));
        let p = parts(&[("x-forwarded-for", "::ffff:203.0.113.7")], Some(PEER));
        assert_eq!(client_ip(&p, Some(&xff(1))), ip("203.0.113.7"));
    }

    #[test]
    fn a_list_that_did_not_come_through_the_proxies_falls_back_to_the_peer() {
        const PEER: &str = "198.51.100.9:4000";
        for lines in [
            vec![],
            vec![("x-forwarded-for", "203.0.113.7")],
            vec![("x-forwarded-for", "1.2.3.4, not-an-ip")],
            vec![("x-forwarded-for", "1.2.3.4, ")],
            vec![("x-forwarded-for", "1.2.3.4, 203.0.113.7/24")],
        ] {
            let p = parts(&lines, Some(PEER));
            let hops = if lines.len() == 1 && !lines[0].1.contains(',') {
                2
            } else {
                1
            };
            assert_eq!(
                client_ip(&p, Some(&xff(hops))),
                ip("198.51.100.9"),
                "{lines:?}"
            );
        }
        // Not text at all.
        let mut p = parts(&[], Some(PEER));
        p.headers.insert(
            "x-forwarded-for",
            http::HeaderValue::from_bytes(b"1.2.3.4, \xff").unwrap(),
        );
        assert_eq!(client_ip(&p, Some(&xff(1))), ip("198.51.100.9"));
        // Without a peer and without a usable header, the client is unknown.
        assert_eq!(client_ip(&parts(&[], None), Some(&xff(1))), None);
        assert_eq!(client_ip(&parts(&[], None), None), None);
        assert_eq!(client_ip(&parts(&[], Some(PEER)), None), ip("198.51.100.9"));
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        let a = ip("2001:db8:1:2:aaaa::1").unwrap();
        let b = ip("2001:db8:1:2:bbbb:cccc:dddd:eeee").unwrap();
        let other = ip("2001:db8:1:3::1").unwrap();
        assert_eq!(limit_key(a), limit_key(b));
        assert_ne!(limit_key(a), limit_key(other));
        assert_eq!(limit_key(a), ip("2001:db8:1:2::").unwrap());
        assert_eq!(limit_key(IP.unwrap()), IP.unwrap());
        // The start limits: one /64 shares one budget.
        let l = StartLimits::new(n(2), n(100), n(100));
        assert!(l.check(Some(a), None).is_ok());
        assert!(l.check(Some(b), None).is_ok());
        assert!(l.check(Some(ip("2001:db8:1:2::3").unwrap()), None).is_err());
        assert!(l.check(Some(other), None).is_ok());
    }
}
