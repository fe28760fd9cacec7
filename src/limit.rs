//! Per-client bounds on code exchanges, so that a flood of made-up codes cannot turn into a
//! flood of calls to WeChat (each costs an upstream round-trip and counts against quota).
//!
//! A client is known by its IP address: from a header a trusted proxy sets
//! ([`with_client_ip_header`](crate::WechatConfigBuilder::with_client_ip_header)), else from
//! axum's `ConnectInfo<SocketAddr>`. Each client may have [`MAX_IN_FLIGHT`] exchanges under
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
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use http::{HeaderName, request::Parts};

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
pub(crate) fn client_ip(req: &Parts, header: Option<&HeaderName>) -> Option<IpAddr> {
    if let Some(name) = header {
        // A proxy that appends puts the client first; one that overwrites sends one value.
        return req
            .headers
            .get(name)?
            .to_str()
            .ok()?
            .split(',')
            .next()?
            .trim()
            .parse()
            .ok();
    }
    req.extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
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
                let c = self.clients.get_with(ip, Arc::default);
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
    /// Limiters for `limits` (checked non-zero by `build`; 1 a minute if not).
    pub(crate) fn new(limits: &crate::ScanStartLimits) -> Self {
        let one = std::num::NonZeroU32::MIN;
        let [ip, browser, total] = limits.quotas().unwrap_or([one; 3]);
        let q = governor::Quota::per_minute;
        Self {
            ip: governor::RateLimiter::keyed(q(ip)),
            browser: governor::RateLimiter::keyed(q(browser)),
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
            self.ip.check_key(&ip).map_err(wait)?;
        }
        self.total.check().map_err(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1)));
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
        let l = StartLimits::new(&crate::ScanStartLimits::new(4, 2, 6));
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

    #[test]
    fn the_client_comes_from_the_trusted_header_or_the_connection() {
        let name = HeaderName::from_static("x-real-ip");
        let (mut parts, ()) = http::Request::builder()
            .header("x-real-ip", "203.0.113.7, 10.0.0.1")
            .body(())
            .unwrap()
            .into_parts();
        assert_eq!(
            client_ip(&parts, Some(&name)),
            Some("203.0.113.7".parse().unwrap())
        );
        assert_eq!(client_ip(&parts, None), None);
        parts
            .extensions
            .insert(axum::extract::ConnectInfo::<SocketAddr>(
                "198.51.100.9:4000".parse().unwrap(),
            ));
        assert_eq!(
            client_ip(&parts, None),
            Some("198.51.100.9".parse().unwrap())
        );
    }
}
