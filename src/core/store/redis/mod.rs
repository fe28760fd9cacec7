//! [`RedisStore`]: the shared [`Store`], so several instances of an app serve one site.
//!
//! Everything a user needs to know is on [`RedisStore`]. This file has the commands, the
//! Lua scripts and the [`Store`] impl; `pubsub.rs` the shared pub/sub connection (its
//! comments explain the machinery); `health.rs` the outage logging.

mod conn;
mod health;
mod pubsub;
mod target;

use std::{
    fmt,
    sync::{Arc, LazyLock, OnceLock},
    time::Duration,
};

use redis::{AsyncCommands, Client, ErrorKind, RedisError, Script};

use self::{
    conn::{Backend, Conn},
    health::Health,
    pubsub::Hub,
    target::Target,
};
use super::{BoxFuture, LockOrValue, Revocation, Store, StoreError, StoreResult, Subscription};
use crate::core::clock::now_unix;

/// How long one operation may take unless [`RedisStore::with_command_timeout`] says otherwise.
const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one attempt to open a connection may take.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Reconnect backoff of the pub/sub connection (and the command connection's cap).
pub(super) const MIN_BACKOFF: Duration = Duration::from_millis(100);
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// The deny-list's sorted set (after the optional prefix). The hash tag puts it and its
/// `:through` hash, which one Lua script updates together, in one Cluster slot.
const REVOKED_KEY: &str = "wechat-auth:{revoked}";
/// What a PEM certificate starts with.
const CERT_PEM: &str = "-----BEGIN CERTIFICATE-----";
/// TTLs are clamped to this (Redis refuses expiry times that overflow its clock).
const MAX_TTL_MS: u64 = 100 * 365 * 24 * 3600 * 1000;

/// Removes `KEYS[1]` only while it holds `ARGV[1]`.
static DELETE_IF_EQ: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then
            return redis.call('DEL', KEYS[1])
        end
        return 0",
    )
});

/// Counts `KEYS[1]` up by one; a new counter expires `ARGV[1]` ms later (later increments
/// keep that expiry).
static INCREMENT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local n = redis.call('INCR', KEYS[1])
        if n == 1 then
            redis.call('PEXPIRE', KEYS[1], ARGV[1])
        end
        return n",
    )
});

/// [`Store::lock_or_get`]: `KEYS[1]` the value, `KEYS[2]` the lock; `ARGV` = owner, ttl ms.
/// Answers `{1, value}`, `{2}` (locked for the owner) or `{3}` (someone else holds it).
static LOCK_OR_GET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local v = redis.call('GET', KEYS[1])
        if v then
            return {1, v}
        end
        if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
            return {2}
        end
        return {3}",
    )
});

/// [`Store::set_and_publish`]: `KEYS[1]` the value (its name is also the topic, behind the
/// same prefix), `KEYS[2]` the lock or nothing; `ARGV` = value, ttl ms, owner.
static SET_AND_PUBLISH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        redis.call('PUBLISH', KEYS[1], ARGV[1])
        if KEYS[2] and redis.call('GET', KEYS[2]) == ARGV[3] then
            redis.call('DEL', KEYS[2])
        end
        return 0",
    )
});

/// [`Store::get_and_claim`]: `KEYS[1]` the record, `KEYS[2]` the claim; `ARGV` = owner, ttl
/// ms. Answers `{0}` (no record, nothing written), `{1, value}` (claimed) or `{2, value}`.
static GET_AND_CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local v = redis.call('GET', KEYS[1])
        if not v then
            return {0}
        end
        if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
            return {1, v}
        end
        return {2, v}",
    )
});

/// Deny-list insert: `KEYS[1]` the sorted set (family → until), `KEYS[2]` the hash (family
/// → through); `ARGV` = now, until, family, through. Lapsed families go first; an entry only
/// widens (the later `until`, the larger `through`); both keys expire one second after the
/// farthest entry.
static REVOKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"for _, f in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])) do
            redis.call('HDEL', KEYS[2], f)
        end
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
        if tonumber(ARGV[2]) > tonumber(ARGV[1]) then
            redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[3])
            local old = tonumber(redis.call('HGET', KEYS[2], ARGV[3]) or '-1')
            if tonumber(ARGV[4]) > old then
                redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
            end
        end
        local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
        if last[2] then
            local at = math.floor(tonumber(last[2])) + 1
            redis.call('EXPIREAT', KEYS[1], at)
            redis.call('EXPIREAT', KEYS[2], at)
        end
        return 0",
    )
});

/// The deny-list: `KEYS` as for [`REVOKE`], `ARGV[1]` = now; answers family, until,
/// through, … for every family whose `until` is later than now.
static REVOKED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local out = {}
        local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf', 'WITHSCORES')
        for i = 1, #live, 2 do
            out[#out + 1] = live[i]
            out[#out + 1] = live[i + 1]
            out[#out + 1] = redis.call('HGET', KEYS[2], live[i]) or '0'
        end
        return out",
    )
});

/// The [`Store`] on Redis (cargo feature `redis`): logins, scans, the global token and the
/// session deny-list shared by every instance that points at the same Redis.
///
/// Needs Redis 6.2 or later (`GETDEL`; [`connect`](Self::connect) checks). URLs:
///
/// | URL | Redis |
/// |---|---|
/// | `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]` | one server, or a primary, or a cloud "proxy mode" cluster endpoint; `USER` is an ACL user |
/// | `rediss://…` | the same over TLS (rustls), trusting the system roots or [`with_ca`](Self::with_ca) |
/// | `redis+unix:///PATH[?db=N&pass=PASSWORD]` | a local socket |
/// | `redis+cluster://[[USER]:PASSWORD@]HOST:PORT` (`rediss+cluster://` for TLS) | a Redis Cluster reached through one seed node |
/// | `redis://A:7000,redis://B:7001,…` | a Redis Cluster with several seeds |
///
/// With a Cluster, `MOVED`/`ASK` redirections, slot-map refreshes and reconnects are the
/// `redis` crate's; the keys each Lua script touches share one hash slot (hash tags), and
/// pub/sub uses one node at a time (a Cluster relays `PUBLISH` to every node), moving on
/// to the next seed when it goes away. Certificate checks cannot be turned off
/// (`#insecure` is refused). Cloning is cheap and clones share the connections. `Debug`,
/// errors and logs never show the password. Use a store within one Tokio runtime (it
/// spawns its connection tasks there).
///
/// ```no_run
/// use std::{sync::Arc, time::Duration};
/// use wechat_auth::store::{RedisStore, Store};
///
/// # #[tokio::main] async fn main() -> Result<(), wechat_auth::store::StoreError> {
/// let store = RedisStore::connect("redis://127.0.0.1:6379/0")
///     .await?
///     .with_prefix("shop")
///     .with_command_timeout(Duration::from_secs(1));
/// store.set("k", b"v".to_vec(), Duration::from_secs(60)).await?;
/// assert_eq!(store.get("k").await?, Some(b"v".to_vec())); // the key is `shop:k` in Redis
/// let store: Arc<dyn Store> = Arc::new(store); // for WechatConfigBuilder::with_store
/// assert!(format!("{store:?}").contains(r#"prefix: "shop""#));
/// # Ok(()) }
/// ```
///
/// # How each operation maps onto Redis
///
/// Keys are the layer's keys (`wechat-auth:APPID:…`) behind the optional
/// [prefix](Self::with_prefix); topics are Redis channels named the same way.
///
/// | [`Store`] method | Redis |
/// |---|---|
/// | `get` | `GET` |
/// | `set` | `SET key value PX ttl` |
/// | `set_if_absent` | `SET key value NX PX ttl` (true iff it set) |
/// | `take` | `GETDEL`: exactly one caller gets the value |
/// | `delete_if_eq` | a Lua compare-and-delete (`EVALSHA`, `EVAL` after a restart) |
/// | `publish` | `PUBLISH` |
/// | `subscribe` | `SUBSCRIBE` on the shared pub/sub connection (below) |
/// | `revoke` | Lua on the sorted set `wechat-auth:{revoked}` (family → `until`) and the hash `wechat-auth:{revoked}:through` (family → generation): drops lapsed families, widens the entry, `EXPIREAT` the farthest `until` |
/// | `revoked` | Lua: `ZRANGEBYSCORE revoked (now +inf WITHSCORES` with each family's `HGET` |
/// | `lock_or_get` | Lua: `GET key`, else `SET lock owner NX PX ttl`: one round trip |
/// | `get_and_claim` | Lua: `GET key`, and when it holds a value `SET claim owner NX PX ttl`: one round trip |
/// | `set_and_publish` | Lua: `SET key value PX ttl`, `PUBLISH key value`, and the compare-and-delete of the lock: one round trip |
///
/// Every key written has a TTL; the deny-list's sorted set expires with its last entry.
///
/// # Connections
///
/// Commands share one multiplexed connection that reconnects by itself (the `redis`
/// crate's `ConnectionManager`; on a Cluster, its async cluster connection, one multiplexed
/// connection per primary). Subscriptions share ONE more connection per store
/// (clones included), however many there are: a topic is `SUBSCRIBE`d when its first
/// local subscriber arrives and `UNSUBSCRIBE`d when its last one goes, and messages are
/// fanned out to local subscribers in process. Both connections close when the store and
/// its subscriptions are dropped.
///
/// # When Redis goes away
///
/// - Every operation is bounded by the command timeout (default 2 s,
///   [`with_command_timeout`](Self::with_command_timeout)) and fails with
///   [`StoreError::Unavailable`] (the layer answers 503); it never hangs or panics. A
///   command waits for two quick reconnect attempts (about half a second), so a blip is
///   absorbed and a dead Redis is reported fast.
/// - Nothing needs restarting: the next command after Redis is back reconnects.
/// - [`Subscription`]s made before the outage stay open and keep waiting (their stream
///   does not end): the pub/sub connection reconnects with a backoff of at most 1 s and
///   subscribes their topics again. Messages published while Redis was away are lost;
///   the layer re-reads the state on every wake-up and its long-polls have their own
///   deadlines. A `subscribe` during the outage fails with `Unavailable`.
/// - A `warn!` is logged when Redis becomes unreachable (at most once per 10 s), and an
///   `info!` when it answers again.
#[derive(Clone)]
pub struct RedisStore {
    shared: Arc<Shared>,
    /// `""`, or the extra prefix followed by `:`.
    prefix: Arc<str>,
    timeout: Duration,
}

struct Shared {
    target: Target,
    /// Where commands go (a single server or the Cluster), connected on first use.
    backend: Backend,
    /// The servers a pub/sub connection may be opened to, tried in turn: the server, or
    /// the Cluster's seeds (a Cluster relays `PUBLISH` to every node).
    pubsub: Arc<[Client]>,
    /// Whether a private CA was given (`with_ca`), for `Debug`.
    private_ca: bool,
    /// The URL with any password replaced by `***`, for `Debug` and logs.
    url: Arc<str>,
    /// The shared pub/sub connection, started by the first `subscribe`.
    hub: OnceLock<Hub>,
    health: Arc<Health>,
}

impl Shared {
    fn new(target: Target, ca: Option<&[u8]>) -> Result<Self, StoreError> {
        let url = target.redacted.clone();
        let invalid = |e: RedisError| {
            StoreError::unavailable(format!("invalid Redis settings for {url}: {e}"))
        };
        let pubsub: Arc<[Client]> = target.node_clients(ca).map_err(invalid)?.into();
        let backend = if target.cluster {
            Backend::cluster(target.cluster_client(ca).map_err(invalid)?)
        } else {
            Backend::single(pubsub[0].clone())
        };
        Ok(Self {
            backend,
            pubsub,
            private_ca: ca.is_some(),
            url: url.clone(),
            hub: OnceLock::new(),
            health: Arc::new(Health::new(url.clone())),
            target,
        })
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &&*self.shared.url)
            .field("cluster", &self.shared.target.cluster)
            .field("tls", &self.shared.target.tls)
            .field("private_ca", &self.shared.private_ca)
            .field("prefix", &self.prefix.strip_suffix(':').unwrap_or(""))
            .field("command_timeout", &self.timeout)
            .finish()
    }
}

impl RedisStore {
    /// Connects to Redis at `url` and checks that it answers (and is recent enough).
    ///
    /// Fails fast with [`StoreError::Unavailable`] on a malformed URL, and within the
    /// command timeout (2 s) when Redis cannot be reached: an app that is configured for
    /// Redis should not start serving as if it had one. Use [`RedisStore::connect_lazy`]
    /// to start regardless and connect on first use.
    ///
    /// ```no_run
    /// # #[tokio::main] async fn main() -> Result<(), wechat_auth::store::StoreError> {
    /// let store = wechat_auth::store::RedisStore::connect("redis://:hunter2@127.0.0.1:6379").await?;
    /// assert!(!format!("{store:?}").contains("hunter2"));
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let store = Self::connect_lazy(url)?;
        store.check_server().await?;
        Ok(store)
    }

    /// A store for `url` that connects on first use: no network I/O here, and no async
    /// runtime needed yet (handy in synchronous configuration code such as `from_env`).
    ///
    /// Only the URL is checked now (not the server's version); an unreachable Redis shows
    /// up later as [`StoreError::Unavailable`] from the operations, and each operation
    /// tries to connect again, so the store starts working as soon as Redis answers.
    ///
    /// ```
    /// use wechat_auth::store::RedisStore;
    ///
    /// let store = RedisStore::connect_lazy("redis://:s3cret@127.0.0.1:6379/2").unwrap();
    /// assert!(!format!("{store:?}").contains("s3cret"));
    /// assert!(RedisStore::connect_lazy("http://127.0.0.1").is_err());
    /// ```
    pub fn connect_lazy(url: &str) -> Result<Self, StoreError> {
        Ok(Self {
            shared: Arc::new(Shared::new(Target::parse(url)?, None)?),
            prefix: "".into(),
            timeout: DEFAULT_COMMAND_TIMEOUT,
        })
    }

    /// The same store trusting only the CA certificate(s) in `pem` (PEM text, as in
    /// `WECHAT_REDIS_CA_FILE`) for `rediss://`, instead of the system roots: managed Redis
    /// with a private CA (Aliyun, Tencent Cloud and others hand out a CA file).
    ///
    /// Call it before the store is used (it starts new connections). Fails on a URL that
    /// is not `rediss://` (a CA without TLS is a configuration mistake) or on a `pem` with
    /// no usable certificate. Certificate and host name checks cannot be turned off.
    ///
    /// ```
    /// use wechat_auth::store::RedisStore;
    ///
    /// let plain = RedisStore::connect_lazy("redis://127.0.0.1:6379").unwrap();
    /// let e = plain.with_ca(b"-----BEGIN CERTIFICATE-----").unwrap_err();
    /// assert!(e.to_string().contains("rediss://"), "{e}");
    ///
    /// let tls = RedisStore::connect_lazy("rediss://:s3cret@redis.example.com:6380").unwrap();
    /// assert!(tls.with_ca(b"not a certificate").is_err());
    /// ```
    pub fn with_ca(self, pem: impl AsRef<[u8]>) -> Result<Self, StoreError> {
        let target = self.shared.target.clone();
        if !target.tls {
            return Err(StoreError::unavailable(format!(
                "a CA file was given for {}, which is not a rediss:// (TLS) URL",
                target.redacted
            )));
        }
        let pem = pem.as_ref();
        if !pem
            .windows(CERT_PEM.len())
            .any(|w| w == CERT_PEM.as_bytes())
        {
            return Err(StoreError::unavailable(format!(
                "the CA for {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                target.redacted
            )));
        }
        Ok(Self {
            shared: Arc::new(Shared::new(target, Some(pem))?),
            ..self
        })
    }

    /// [`with_ca`](Self::with_ca) with the PEM read from `path` (`WECHAT_REDIS_CA_FILE`).
    ///
    /// ```
    /// let store = wechat_auth::store::RedisStore::connect_lazy("rediss://redis.example.com").unwrap();
    /// let e = store.with_ca_file("/nonexistent/ca.pem").unwrap_err();
    /// assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    /// ```
    pub fn with_ca_file(self, path: impl AsRef<std::path::Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let pem = std::fs::read(path).map_err(|e| {
            StoreError::unavailable(format!(
                "cannot read the Redis CA file {}: {e}",
                path.display()
            ))
        })?;
        self.with_ca(pem)
    }

    /// Checks now that Redis answers (and is recent enough), as [`connect`](Self::connect)
    /// does: for a store made with [`connect_lazy`](Self::connect_lazy) and
    /// [`with_ca`](Self::with_ca).
    ///
    /// ```no_run
    /// # #[tokio::main] async fn main() -> Result<(), wechat_auth::store::StoreError> {
    /// let store = wechat_auth::store::RedisStore::connect_lazy("rediss://redis.example.com:6380")?
    ///     .with_ca_file("/etc/redis/ca.pem")?;
    /// store.check().await?; // fails here, not at the first login, when the CA is wrong
    /// # Ok(()) }
    /// ```
    pub async fn check(&self) -> Result<(), StoreError> {
        self.check_server().await
    }

    /// The same store with every key and topic put under `prefix:`, so that two apps can
    /// share one Redis (database) without seeing each other's state. Keys from the layer
    /// already start with `wechat-auth:APPID:`; an empty prefix means none.
    ///
    /// ```
    /// let store = wechat_auth::store::RedisStore::connect_lazy("redis://127.0.0.1")
    ///     .unwrap()
    ///     .with_prefix("shop");
    /// assert!(format!("{store:?}").contains("\"shop\""));
    /// ```
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        self.prefix = if prefix.is_empty() {
            "".into()
        } else {
            format!("{prefix}:").into()
        };
        self
    }

    /// The same store with every operation bounded by `timeout` (default 2 s): past it the
    /// operation fails with [`StoreError::Unavailable`]. The first `subscribe` also sets the
    /// bound of the shared pub/sub connection's own commands.
    ///
    /// ```
    /// use std::time::Duration;
    /// let store = wechat_auth::store::RedisStore::connect_lazy("redis://127.0.0.1")
    ///     .unwrap()
    ///     .with_command_timeout(Duration::from_millis(500));
    /// assert!(format!("{store:?}").contains("command_timeout: 500ms"));
    /// // No bound at all is not one: it becomes 1 ms.
    /// let store = store.with_command_timeout(Duration::ZERO);
    /// assert!(format!("{store:?}").contains("command_timeout: 1ms"));
    /// ```
    pub fn with_command_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Runs one Redis operation within the command timeout, mapping every failure to
    /// [`StoreError::Unavailable`] and keeping the health log up to date.
    async fn run<T, F>(&self, name: &'static str, op: impl FnOnce(Conn) -> F) -> StoreResult<T>
    where
        F: Future<Output = Result<T, RedisError>>,
    {
        let health = &self.shared.health;
        let attempt = async { op(self.shared.backend.conn().await?).await };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(Ok(v)) => {
                health.ok();
                Ok(v)
            }
            Ok(Err(e)) => {
                crate::metrics::store_error(name);
                if is_connectivity(&e) {
                    health.failed(&e);
                }
                Err(StoreError::unavailable(e))
            }
            Err(_) => {
                crate::metrics::store_error(name);
                let e = format!("Redis did not answer within {:?}", self.timeout);
                health.failed(&e);
                Err(StoreError::unavailable(e))
            }
        }
    }

    async fn check_server(&self) -> StoreResult<()> {
        let url = self.shared.url.clone();
        let info: String = self
            .run("connect", |mut c| async move {
                let _: String = redis::cmd("PING").query_async(&mut c).await?;
                // Some managed services disable INFO: then there is nothing more to check.
                Ok(redis::cmd("INFO")
                    .arg("server")
                    .query_async(&mut c)
                    .await
                    .unwrap_or_default())
            })
            .await
            .map_err(|e| match e {
                StoreError::Unavailable(why) => {
                    StoreError::unavailable(format!("cannot use Redis at {url}: {why}"))
                }
                other => other,
            })?;
        match server_version(&info) {
            Some(v) if v < (6, 2) => Err(StoreError::unavailable(format!(
                "Redis at {url} is version {}.{}; RedisStore needs 6.2 or later (GETDEL)",
                v.0, v.1
            ))),
            _ => Ok(()),
        }
    }

    fn hub(&self) -> &Hub {
        self.shared.hub.get_or_init(|| {
            Hub::start(
                self.shared.pubsub.clone(),
                self.shared.health.clone(),
                self.timeout,
            )
        })
    }
}

fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_TTL_MS)
}

/// Whether `e` means "cannot talk to Redis" (worth a warning), rather than a refused command.
fn is_connectivity(e: &RedisError) -> bool {
    !matches!(
        e.kind(),
        ErrorKind::Server(_) | ErrorKind::Extension | ErrorKind::UnexpectedReturnType
    )
}

/// `redis_version:7.0.15` in `INFO server` → `(7, 0)`.
fn server_version(info: &str) -> Option<(u32, u32)> {
    let v = info
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))?
        .trim();
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??))
}

/// `url` with its password (userinfo or `?pass=`/`?password=`) replaced by `***`.
fn redact(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return "<unparseable URL>".to_owned();
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    if parsed.query().is_some() {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let secret = matches!(k.as_ref(), "pass" | "password");
                (
                    k.into_owned(),
                    if secret { "***".into() } else { v.into_owned() },
                )
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

impl Store for RedisStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>> {
        let key = self.key(key);
        Box::pin(self.run("get", |mut c| async move { c.get(key).await }))
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, StoreResult<()>> {
        let key = self.key(key);
        Box::pin(self.run("set", move |mut c| async move {
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(ttl_ms(ttl))
                .query_async::<()>(&mut c)
                .await
        }))
    }

    fn set_if_absent<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        let key = self.key(key);
        Box::pin(self.run("set_if_absent", move |mut c| async move {
            let set: Option<String> = redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("NX")
                .arg("PX")
                .arg(ttl_ms(ttl))
                .query_async(&mut c)
                .await?;
            Ok(set.is_some())
        }))
    }

    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>> {
        let key = self.key(key);
        Box::pin(self.run("take", |mut c| async move {
            redis::cmd("GETDEL").arg(key).query_async(&mut c).await
        }))
    }

    fn delete_if_eq<'a>(
        &'a self,
        key: &'a str,
        expected: &'a [u8],
    ) -> BoxFuture<'a, StoreResult<bool>> {
        let key = self.key(key);
        Box::pin(self.run("delete_if_eq", move |mut c| async move {
            let deleted: i64 = DELETE_IF_EQ
                .key(key)
                .arg(expected)
                .invoke_async(&mut c)
                .await?;
            Ok(deleted == 1)
        }))
    }

    fn increment<'a>(&'a self, key: &'a str, ttl: Duration) -> BoxFuture<'a, StoreResult<u64>> {
        let key = self.key(key);
        Box::pin(self.run("increment", move |mut c| async move {
            let n: i64 = INCREMENT
                .key(key)
                .arg(ttl_ms(ttl))
                .invoke_async(&mut c)
                .await?;
            Ok(u64::try_from(n).unwrap_or(0))
        }))
    }

    fn publish<'a>(&'a self, topic: &'a str, message: Vec<u8>) -> BoxFuture<'a, StoreResult<()>> {
        let channel = self.key(topic);
        Box::pin(self.run("publish", move |mut c| async move {
            let _receivers: i64 = c.publish(channel, message).await?;
            Ok(())
        }))
    }

    fn subscribe<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, StoreResult<Subscription>> {
        let channel = self.key(topic);
        Box::pin(async move {
            let hub = self.hub();
            let listener = hub.listen(&channel);
            let health = &self.shared.health;
            match tokio::time::timeout(self.timeout, hub.shared.confirm(&channel, &listener.op))
                .await
            {
                Ok(Ok(())) => {
                    health.ok();
                    Ok(listener.into_subscription())
                }
                Ok(Err(e)) => {
                    crate::metrics::store_error("subscribe");
                    health.failed(&e);
                    Err(StoreError::unavailable(e))
                }
                Err(_) => {
                    crate::metrics::store_error("subscribe");
                    let e = format!("Redis did not confirm SUBSCRIBE within {:?}", self.timeout);
                    health.failed(&e);
                    Err(StoreError::unavailable(e))
                }
            }
        })
    }

    fn revoke<'a>(&'a self, entry: &'a Revocation) -> BoxFuture<'a, StoreResult<()>> {
        let key = self.key(REVOKED_KEY);
        let through = format!("{key}:through");
        // Redis keeps scores as f64 and expiry times within its clock: clamp far futures.
        let until = entry.until.min(now_unix() + MAX_TTL_MS / 1000);
        Box::pin(self.run("revoke", move |mut c| async move {
            REVOKE
                .key(key)
                .key(through)
                .arg(now_unix())
                .arg(until)
                .arg(entry.family.as_str())
                .arg(entry.through)
                .invoke_async::<()>(&mut c)
                .await
        }))
    }

    fn lock_or_get<'a>(
        &'a self,
        key: &'a str,
        lock: &'a str,
        owner: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, StoreResult<LockOrValue>> {
        let (key, lock) = (self.key(key), self.key(lock));
        Box::pin(self.run("lock_or_get", move |mut c| async move {
            let reply: Vec<redis::Value> = LOCK_OR_GET
                .key(key)
                .key(lock)
                .arg(owner)
                .arg(ttl_ms(ttl))
                .invoke_async(&mut c)
                .await?;
            match reply.as_slice() {
                [redis::Value::Int(1), redis::Value::BulkString(v)] => {
                    Ok(LockOrValue::Value(v.clone()))
                }
                [redis::Value::Int(2)] => Ok(LockOrValue::Locked),
                [redis::Value::Int(3)] => Ok(LockOrValue::Busy),
                _ => Err(RedisError::from((
                    ErrorKind::UnexpectedReturnType,
                    "lock_or_get: an answer its script never gives",
                ))),
            }
        }))
    }

    fn get_and_claim<'a>(
        &'a self,
        key: &'a str,
        claim: &'a str,
        owner: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, StoreResult<super::Claimed>> {
        let (key, claim) = (self.key(key), self.key(claim));
        Box::pin(self.run("get_and_claim", move |mut c| async move {
            let reply: Vec<redis::Value> = GET_AND_CLAIM
                .key(key)
                .key(claim)
                .arg(owner)
                .arg(ttl_ms(ttl))
                .invoke_async(&mut c)
                .await?;
            match reply.as_slice() {
                [redis::Value::Int(0)] => Ok(None),
                [redis::Value::Int(n @ (1 | 2)), redis::Value::BulkString(v)] => {
                    Ok(Some((v.clone(), *n == 1)))
                }
                _ => Err(RedisError::from((
                    ErrorKind::UnexpectedReturnType,
                    "get_and_claim: an answer its script never gives",
                ))),
            }
        }))
    }

    fn set_and_publish<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
        release: Option<(&'a str, &'a [u8])>,
    ) -> BoxFuture<'a, StoreResult<()>> {
        let key = self.key(key);
        let release = release.map(|(lock, owner)| (self.key(lock), owner));
        Box::pin(self.run("set_and_publish", move |mut c| async move {
            let mut script = SET_AND_PUBLISH.key(key);
            script.arg(value).arg(ttl_ms(ttl));
            if let Some((lock, owner)) = release {
                script.key(lock).arg(owner);
            }
            script.invoke_async::<()>(&mut c).await
        }))
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [&'a str],
    ) -> BoxFuture<'a, StoreResult<Vec<Option<Vec<u8>>>>> {
        let keys: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        Box::pin(self.run("get_many", move |mut c| async move {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            redis::cmd("MGET").arg(&keys).query_async(&mut c).await
        }))
    }

    fn set_and_publish_with<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
        release: Option<(&'a str, &'a [u8])>,
        also: Vec<(String, Vec<u8>, Duration)>,
    ) -> BoxFuture<'a, StoreResult<()>> {
        let key = self.key(key);
        let release = release.map(|(lock, owner)| (self.key(lock), owner));
        let also: Vec<_> = also
            .into_iter()
            .map(|(k, v, t)| (self.key(&k), v, t))
            .collect();
        Box::pin(self.run("set_and_publish", move |mut c| async move {
            let mut script = SET_AND_PUBLISH.key(key);
            script.arg(value).arg(ttl_ms(ttl));
            if let Some((lock, owner)) = release {
                script.key(lock).arg(owner);
            }
            // A Cluster's keys live on several nodes: one call each, as the default does.
            // On one server the writes and the script go in one pipeline.
            if matches!(c, Conn::Cluster(_)) || also.is_empty() {
                for (k, v, t) in &also {
                    let () = redis::cmd("SET")
                        .arg(k)
                        .arg(v)
                        .arg("PX")
                        .arg(ttl_ms(*t))
                        .query_async(&mut c)
                        .await?;
                }
                return script.invoke_async::<()>(&mut c).await;
            }
            let mut pipe = redis::pipe();
            for (k, v, t) in &also {
                pipe.cmd("SET")
                    .arg(k)
                    .arg(v)
                    .arg("PX")
                    .arg(ttl_ms(*t))
                    .ignore();
            }
            pipe.invoke_script(&script).ignore();
            match pipe.query_async::<()>(&mut c).await {
                // The server lost its scripts (a restart, SCRIPT FLUSH): the writes are in,
                // and the script loads itself when invoked alone.
                Err(e)
                    if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
                {
                    script.invoke_async::<()>(&mut c).await
                }
                other => other,
            }
        }))
    }

    fn revoked(&self) -> BoxFuture<'_, StoreResult<Vec<Revocation>>> {
        let key = self.key(REVOKED_KEY);
        let through = format!("{key}:through");
        Box::pin(self.run("revoked", move |mut c| async move {
            let flat: Vec<String> = REVOKED
                .key(key)
                .key(through)
                .arg(now_unix())
                .invoke_async(&mut c)
                .await?;
            Ok(flat
                .chunks_exact(3)
                .map(|t| {
                    Revocation::new(
                        t[0].clone(),
                        t[2].parse().unwrap_or(u32::MAX),
                        // Scores are whole Unix seconds, far below 2^53: exact in an f64.
                        t[1].parse::<f64>().map_or(u64::MAX, |u| u.max(0.0) as u64),
                    )
                })
                .collect())
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("redis://user:pw@h:6379/1"),
            "redis://user:***@h:6379/1"
        );
        assert_eq!(redact("redis://:pw@h/"), "redis://:***@h/");
        let unix = redact("redis+unix:///run/redis.sock?db=1&pass=pw");
        assert!(!unix.contains("pw"), "{unix}");
        assert_eq!(redact("redis://h:6379"), "redis://h:6379");
        assert_eq!(redact("not a url"), "<unparseable URL>");
    }

    #[test]
    fn bad_urls_fail_without_echoing_the_password() {
        let e = RedisStore::connect_lazy("http://:pw@h/").unwrap_err();
        assert!(matches!(e, StoreError::Unavailable(_)));
        assert!(e.to_string().contains("invalid Redis URL"), "{e}");
        assert!(!e.to_string().contains("pw"), "{e}");
    }

    #[test]
    fn a_bad_url_out_of_main_says_what_to_fix_and_hides_the_password() {
        let e = RedisStore::connect_lazy("redis://:hunter2@h1,http://:hunter2@h2").unwrap_err();
        let boxed: Box<dyn std::error::Error> = Box::new(e);
        let shown = format!("{boxed:?}");
        assert!(
            shown.starts_with("session store unavailable: invalid Redis URL"),
            "{shown}"
        );
        assert!(shown.ends_with(" (StoreError::Unavailable)"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[tokio::test]
    async fn an_unreachable_redis_out_of_main_names_the_redacted_url() {
        // Nothing listens on port 1: refused at once.
        let e = RedisStore::connect("redis://app:hunter2@127.0.0.1:1/0")
            .await
            .unwrap_err();
        let boxed: Box<dyn std::error::Error> = Box::new(e);
        let shown = format!("{boxed:?}");
        assert!(
            shown.starts_with(
                "session store unavailable: cannot use Redis at redis://app:***@127.0.0.1:1/0"
            ),
            "{shown}"
        );
        assert!(shown.ends_with(" (StoreError::Unavailable)"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn futures_and_store_are_send_and_sync() {
        fn send<T: Send>(_: &T) {}
        fn shareable<T: Send + Sync + Clone + 'static>() {}
        send(&RedisStore::connect("redis://127.0.0.1"));
        shareable::<RedisStore>();
    }

    #[test]
    fn tls_and_cluster_urls_are_understood_and_redacted() {
        let tls = RedisStore::connect_lazy("rediss://app:pw@h:6380").unwrap();
        let shown = format!("{tls:?}");
        assert!(shown.contains("rediss://app:***@h:6380") && shown.contains("tls: true"));
        assert!(!shown.contains("pw@"), "{shown}");
        let cluster = RedisStore::connect_lazy("redis://:pw@h1:7000,redis://:pw@h2:7001").unwrap();
        let shown = format!("{cluster:?}");
        assert!(
            shown.contains("cluster: true") && !shown.contains("pw@"),
            "{shown}"
        );
        let e = RedisStore::connect_lazy("redis://h1,rediss://:pw@h2").unwrap_err();
        assert!(!e.to_string().contains("pw@"), "{e}");
    }

    #[test]
    fn reads_the_server_version() {
        assert_eq!(
            server_version("# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:0\r\n"),
            Some((7, 0))
        );
        assert_eq!(server_version("nothing"), None);
    }

    #[test]
    fn ttls_are_clamped() {
        assert_eq!(ttl_ms(Duration::ZERO), 1);
        assert_eq!(ttl_ms(Duration::from_millis(1500)), 1500);
        assert_eq!(ttl_ms(Duration::MAX), MAX_TTL_MS);
    }
}
