//! [`RedisStore`]: the shared [`Store`], so several instances of an app serve one site.
//!
//! Everything a user needs to know is on [`RedisStore`]; the comments below the public
//! items explain the pub/sub machinery.

use std::{
    collections::{BTreeSet, HashMap},
    fmt,
    sync::{
        Arc, LazyLock, Mutex, MutexGuard, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use redis::{
    AsyncCommands, Client, ErrorKind, RedisError, Script,
    aio::{ConnectionManager, ConnectionManagerConfig, PubSubSink},
};
use tokio::sync::{broadcast, mpsc, watch};

use super::{BoxFuture, Revocation, Store, StoreError, StoreResult, Subscription};
use crate::session::now_unix;

/// How long one operation may take unless [`RedisStore::with_command_timeout`] says otherwise.
const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one attempt to open a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Reconnect backoff of the pub/sub connection (and the command connection's cap).
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Connection attempts a command waits for, after the first, before it fails: a blip of a
/// few hundred milliseconds (a restart, a failover) is absorbed, a dead Redis is reported
/// quickly. The next command starts a new round, so recovery needs no timer.
const COMMAND_RECONNECT_RETRIES: usize = 2;
/// How often an idle pub/sub connection is PINGed, to notice a peer that vanished silently.
const PUBSUB_PING_EVERY: Duration = Duration::from_secs(15);
/// At most one "Redis unreachable" warning per this long.
const WARN_EVERY: Duration = Duration::from_secs(10);
/// Subscribers that fall this far behind lose the oldest messages (as in `MemoryStore`).
const TOPIC_BUFFER: usize = 16;
/// The deny-list's sorted set (after the optional prefix).
const REVOKED_KEY: &str = "wechat-auth:revoked";
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
/// Needs Redis 6.2 or later (`GETDEL`; [`connect`](Self::connect) checks), a single server
/// or a primary (not Redis Cluster). URLs: `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]` and
/// `redis+unix:///PATH[?db=N&pass=PASSWORD]`; no TLS (`rediss://` is refused). Cloning is
/// cheap and clones share the connections. `Debug`, errors and logs never show the password.
/// Use a store within one Tokio runtime (it spawns its connection tasks there).
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
/// let store: Arc<dyn Store> = Arc::new(store); // for WechatConfigBuilder::with_store
/// # drop(store);
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
/// | `revoke` | Lua on the sorted set `wechat-auth:revoked` (family → `until`) and the hash `wechat-auth:revoked:through` (family → generation): drops lapsed families, widens the entry, `EXPIREAT` the farthest `until` |
/// | `revoked` | Lua: `ZRANGEBYSCORE revoked (now +inf WITHSCORES` with each family's `HGET` |
///
/// Every key written has a TTL; the deny-list's sorted set expires with its last entry.
///
/// # Connections
///
/// Commands share one multiplexed connection that reconnects by itself (the `redis`
/// crate's `ConnectionManager`). Subscriptions share ONE more connection per store
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
    client: Client,
    /// The URL with any password replaced by `***`, for `Debug` and logs.
    url: Arc<str>,
    /// Created on first use, inside the runtime (it spawns a task).
    manager: OnceLock<ConnectionManager>,
    /// The shared pub/sub connection, started by the first `subscribe`.
    hub: OnceLock<Hub>,
    health: Arc<Health>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &&*self.shared.url)
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
    /// let store = wechat_auth::store::RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// # drop(store);
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
        let redacted: Arc<str> = redact(url).into();
        let client = Client::open(url)
            .map_err(|e| StoreError::unavailable(format!("invalid Redis URL {redacted}: {e}")))?;
        Ok(Self {
            shared: Arc::new(Shared {
                client,
                url: redacted.clone(),
                manager: OnceLock::new(),
                hub: OnceLock::new(),
                health: Arc::new(Health::new(redacted)),
            }),
            prefix: "".into(),
            timeout: DEFAULT_COMMAND_TIMEOUT,
        })
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
    /// # drop(store);
    /// ```
    pub fn with_command_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// The command connection, created on first use.
    fn manager(&self) -> StoreResult<ConnectionManager> {
        if let Some(m) = self.shared.manager.get() {
            return Ok(m.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            // Our own timeout bounds each operation; a late answer is simply dropped.
            .set_response_timeout(None)
            .set_number_of_retries(COMMAND_RECONNECT_RETRIES)
            .set_min_delay(MIN_BACKOFF)
            .set_max_delay(MAX_BACKOFF)
            .set_pipeline_buffer_size(1024);
        let manager = ConnectionManager::new_lazy_with_config(self.shared.client.clone(), config)
            .map_err(StoreError::unavailable)?;
        Ok(self.shared.manager.get_or_init(|| manager).clone())
    }

    /// Runs one Redis operation within the command timeout, mapping every failure to
    /// [`StoreError::Unavailable`] and keeping the health log up to date.
    async fn run<T, F>(&self, op: impl FnOnce(ConnectionManager) -> F) -> StoreResult<T>
    where
        F: Future<Output = Result<T, RedisError>>,
    {
        let health = &self.shared.health;
        let conn = self.manager()?;
        match tokio::time::timeout(self.timeout, op(conn)).await {
            Ok(Ok(v)) => {
                health.ok();
                Ok(v)
            }
            Ok(Err(e)) => {
                if is_connectivity(&e) {
                    health.failed(&e);
                }
                Err(StoreError::unavailable(e))
            }
            Err(_) => {
                let e = format!("Redis did not answer within {:?}", self.timeout);
                health.failed(&e);
                Err(StoreError::unavailable(e))
            }
        }
    }

    async fn check_server(&self) -> StoreResult<()> {
        let url = self.shared.url.clone();
        let info: String = self
            .run(|mut c| async move {
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
                self.shared.client.clone(),
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
        Box::pin(self.run(|mut c| async move { c.get(key).await }))
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, StoreResult<()>> {
        let key = self.key(key);
        Box::pin(self.run(move |mut c| async move {
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
        Box::pin(self.run(move |mut c| async move {
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
        Box::pin(
            self.run(
                |mut c| async move { redis::cmd("GETDEL").arg(key).query_async(&mut c).await },
            ),
        )
    }

    fn delete_if_eq<'a>(
        &'a self,
        key: &'a str,
        expected: &'a [u8],
    ) -> BoxFuture<'a, StoreResult<bool>> {
        let key = self.key(key);
        Box::pin(self.run(move |mut c| async move {
            let deleted: i64 = DELETE_IF_EQ
                .key(key)
                .arg(expected)
                .invoke_async(&mut c)
                .await?;
            Ok(deleted == 1)
        }))
    }

    fn publish<'a>(&'a self, topic: &'a str, message: Vec<u8>) -> BoxFuture<'a, StoreResult<()>> {
        let channel = self.key(topic);
        Box::pin(self.run(move |mut c| async move {
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
                    health.failed(&e);
                    Err(StoreError::unavailable(e))
                }
                Err(_) => {
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
        Box::pin(self.run(move |mut c| async move {
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

    fn revoked(&self) -> BoxFuture<'_, StoreResult<Vec<Revocation>>> {
        let key = self.key(REVOKED_KEY);
        let through = format!("{key}:through");
        Box::pin(self.run(move |mut c| async move {
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

/// Logs "Redis unreachable" at most once per [`WARN_EVERY`], and "back" once it answers.
struct Health {
    url: Arc<str>,
    down: AtomicBool,
    last_warning: Mutex<Option<Instant>>,
}

impl Health {
    fn new(url: Arc<str>) -> Self {
        Self {
            url,
            down: AtomicBool::new(false),
            last_warning: Mutex::new(None),
        }
    }

    fn failed(&self, error: &dyn fmt::Display) {
        let mut last = self.last_warning.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
            *last = Some(Instant::now());
            self.down.store(true, Ordering::Relaxed);
            tracing::warn!(
                redis = %self.url,
                error = %error,
                "Redis store unreachable: its operations fail (503) until it answers again"
            );
        }
    }

    fn ok(&self) {
        if self.down.load(Ordering::Relaxed) && self.down.swap(false, Ordering::Relaxed) {
            tracing::info!(redis = %self.url, "Redis store reachable again");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Pub/sub: one connection per store, topics fanned out in process.
//
// Invariants (all under `HubShared::state`):
// - A topic's entry exists while it has local receivers (a `Listener` subscribes its
//   receiver under the lock, so a fresh entry never has zero receivers), or while the hub
//   is unsubscribing it.
// - `entry.confirmed == state.generation` (with a live sink) means Redis confirmed the
//   SUBSCRIBE on the current connection: a new local subscriber can return at once.
// - SUBSCRIBE and UNSUBSCRIBE of one topic never overlap: both hold the entry's `op` lock,
//   and the hub clears `confirmed` before unsubscribing, so a subscriber that arrives
//   meanwhile waits for the lock and subscribes again.
// ---------------------------------------------------------------------------------------

struct Hub {
    shared: Arc<HubShared>,
    /// Topics whose last local subscriber went (sent by `TopicGuard::drop`).
    released: mpsc::UnboundedSender<String>,
}

struct HubShared {
    state: Mutex<HubState>,
    /// Bumped whenever the connection comes up or goes down; subscribers wait on it.
    link: watch::Sender<u64>,
    /// A subscriber found Redis unreachable: try again now rather than after the backoff.
    retry_now: tokio::sync::Notify,
    timeout: Duration,
}

struct HubState {
    topics: HashMap<String, Topic>,
    /// The live connection's command side, `None` while (re)connecting.
    sink: Option<PubSubSink>,
    generation: u64,
    /// Why the last connection attempt failed, until one succeeds: subscribers then fail
    /// at once instead of waiting out their timeout.
    down: Option<String>,
}

struct Topic {
    tx: broadcast::Sender<Vec<u8>>,
    /// The generation whose connection confirmed SUBSCRIBE; 0 = not subscribed.
    confirmed: u64,
    op: Arc<tokio::sync::Mutex<()>>,
}

impl Hub {
    fn start(client: Client, health: Arc<Health>, timeout: Duration) -> Self {
        let shared = Arc::new(HubShared {
            state: Mutex::new(HubState {
                topics: HashMap::new(),
                sink: None,
                generation: 0,
                down: None,
            }),
            link: watch::channel(0).0,
            retry_now: tokio::sync::Notify::new(),
            timeout,
        });
        let (released, rx) = mpsc::unbounded_channel();
        tokio::spawn(run_hub(client, shared.clone(), rx, health));
        Self { shared, released }
    }

    /// A local receiver on `channel` (not yet confirmed by Redis).
    fn listen(&self, channel: &str) -> Listener {
        let mut state = self.shared.lock();
        let topic = state
            .topics
            .entry(channel.to_owned())
            .or_insert_with(|| Topic {
                tx: broadcast::channel(TOPIC_BUFFER).0,
                confirmed: 0,
                op: Arc::default(),
            });
        Listener {
            rx: topic.tx.subscribe(),
            op: topic.op.clone(),
            _guard: TopicGuard {
                channel: channel.to_owned(),
                released: self.released.clone(),
            },
        }
    }
}

impl HubShared {
    fn lock(&self) -> MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The live sink if `channel` still needs a SUBSCRIBE on it; `Ok(None)` when it is
    /// confirmed on the current connection; `Err(None)` while connecting, `Err(Some(why))`
    /// while Redis is known to be unreachable.
    fn needs_subscribe(&self, channel: &str) -> Result<Option<(PubSubSink, u64)>, Option<String>> {
        let state = self.lock();
        let Some(sink) = &state.sink else {
            return Err(state.down.clone());
        };
        match state.topics.get(channel) {
            Some(t) if t.confirmed == state.generation => Ok(None),
            _ => Ok(Some((sink.clone(), state.generation))),
        }
    }

    /// Waits until Redis has confirmed the subscription of `channel` on the live connection.
    ///
    /// While Redis is known to be unreachable, asks the hub for one immediate connection
    /// attempt (Redis may just be back) and fails if that one fails too.
    async fn confirm(&self, channel: &str, op: &tokio::sync::Mutex<()>) -> Result<(), String> {
        let mut link = self.link.subscribe();
        let mut nudged = false;
        loop {
            // Fast path: already subscribed on this connection.
            match self.needs_subscribe(channel) {
                Ok(None) => return Ok(()),
                Err(Some(why)) if nudged => {
                    return Err(format!("Redis pub/sub unreachable: {why}"));
                }
                Err(Some(_)) => {
                    nudged = true;
                    self.retry_now.notify_one();
                    link.changed()
                        .await
                        .map_err(|_| "the pub/sub connection task ended".to_owned())?;
                    continue;
                }
                Err(None) => {
                    link.changed()
                        .await
                        .map_err(|_| "the pub/sub connection task ended".to_owned())?;
                    continue;
                }
                Ok(Some(_)) => {}
            }
            let _op = op.lock().await;
            let (mut sink, generation) = match self.needs_subscribe(channel) {
                Ok(None) => return Ok(()),
                Ok(Some(s)) => s,
                Err(_) => continue,
            };
            match sink.subscribe(channel).await {
                Ok(()) => {
                    let mut state = self.lock();
                    if state.generation == generation
                        && let Some(t) = state.topics.get_mut(channel)
                    {
                        t.confirmed = generation;
                    }
                    return Ok(());
                }
                // The connection changed under us: try again on the new one.
                Err(_) if *link.borrow_and_update() != generation => continue,
                Err(e) => return Err(format!("Redis SUBSCRIBE failed: {e}")),
            }
        }
    }

    /// Hands a message to the local subscribers of its channel.
    fn deliver(&self, msg: &redis::Msg) {
        let state = self.lock();
        if let Some(t) = state.topics.get(msg.get_channel_name()) {
            let _ = t.tx.send(msg.get_payload_bytes().to_vec());
        }
    }

    /// Unsubscribes the topics among `channels` that no local subscriber holds any more.
    async fn release(&self, channels: BTreeSet<String>) {
        let mut locks = Vec::new();
        let mut targets = Vec::new();
        for channel in channels {
            let op = match self.lock().topics.get(&channel) {
                Some(t) if t.tx.receiver_count() == 0 => t.op.clone(),
                _ => continue,
            };
            let guard = op.lock_owned().await;
            let mut state = self.lock();
            let connected = state.sink.is_some();
            match state.topics.get_mut(&channel) {
                Some(t) if t.tx.receiver_count() == 0 => {
                    if connected {
                        // From now on a new subscriber must SUBSCRIBE again (after us).
                        t.confirmed = 0;
                        targets.push(channel);
                        locks.push(guard);
                    } else {
                        state.topics.remove(&channel);
                    }
                }
                _ => {}
            }
        }
        if targets.is_empty() {
            return;
        }
        let sink = self.lock().sink.clone();
        if let Some(mut sink) = sink {
            // A failure leaves at worst an unused subscription on a dying connection.
            let _ = tokio::time::timeout(self.timeout, sink.unsubscribe(&targets)).await;
        }
        let mut state = self.lock();
        for channel in &targets {
            if state
                .topics
                .get(channel)
                .is_some_and(|t| t.tx.receiver_count() == 0)
            {
                state.topics.remove(channel);
            }
        }
        drop(state);
        drop(locks);
    }

    /// A fresh connection: subscribe every topic someone listens to, then let subscribers in.
    async fn install(&self, mut sink: PubSubSink) -> Result<(), String> {
        let channels: Vec<String> = {
            let mut state = self.lock();
            state.topics.retain(|_, t| t.tx.receiver_count() > 0);
            state.topics.keys().cloned().collect()
        };
        if !channels.is_empty() {
            match tokio::time::timeout(self.timeout, sink.subscribe(&channels)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(format!("Redis SUBSCRIBE failed: {e}")),
                Err(_) => {
                    return Err(format!(
                        "Redis did not confirm SUBSCRIBE within {:?}",
                        self.timeout
                    ));
                }
            }
        }
        let generation = {
            let mut state = self.lock();
            state.generation += 1;
            let generation = state.generation;
            for channel in &channels {
                if let Some(t) = state.topics.get_mut(channel) {
                    t.confirmed = generation;
                }
            }
            state.sink = Some(sink);
            state.down = None;
            generation
        };
        self.link.send_replace(generation);
        Ok(())
    }

    /// A connection attempt failed: subscribers stop waiting for one.
    fn unreachable(&self, why: &str) {
        let generation = {
            let mut state = self.lock();
            state.down = Some(why.to_owned());
            state.generation
        };
        // Wake the waiting subscribers so they see it (the generation did not change).
        self.link.send_replace(generation);
    }

    /// The connection is gone: subscribers wait for the next one.
    fn uninstall(&self) {
        let generation = {
            let mut state = self.lock();
            state.sink = None;
            state.generation += 1;
            state.generation
        };
        self.link.send_replace(generation);
    }
}

/// The pub/sub connection's life: connect, (re)subscribe, deliver, release, reconnect.
/// Ends when the store and every subscription are gone (the `released` channel closes).
async fn run_hub(
    client: Client,
    shared: Arc<HubShared>,
    mut released: mpsc::UnboundedReceiver<String>,
    health: Arc<Health>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let connect = tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_pubsub());
        tokio::pin!(connect);
        let connected = loop {
            tokio::select! {
                r = &mut connect => break r,
                msg = released.recv() => match msg {
                    None => return,
                    Some(first) => shared.release(drain(first, &mut released)).await,
                },
            }
        };
        let pubsub = match connected {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no pub/sub connection within {CONNECT_TIMEOUT:?}")),
        };
        let installed = match pubsub {
            Ok(p) => {
                let (sink, stream) = p.split();
                shared.install(sink.clone()).await.map(|()| (sink, stream))
            }
            Err(e) => Err(e),
        };
        let (mut sink, mut stream) = match installed {
            Ok(s) => s,
            Err(e) => {
                shared.unreachable(&e);
                health.failed(&e);
                let pause = tokio::time::sleep(backoff);
                tokio::pin!(pause);
                loop {
                    tokio::select! {
                        () = &mut pause => break,
                        () = shared.retry_now.notified() => break,
                        msg = released.recv() => match msg {
                            None => return,
                            Some(first) => shared.release(drain(first, &mut released)).await,
                        },
                    }
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        health.ok();
        backoff = MIN_BACKOFF;

        let mut ping = tokio::time::interval(PUBSUB_PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.reset();
        let lost = loop {
            tokio::select! {
                msg = stream.next() => match msg {
                    Some(msg) => shared.deliver(&msg),
                    None => break "the pub/sub connection closed".to_owned(),
                },
                msg = released.recv() => match msg {
                    None => return,
                    Some(first) => shared.release(drain(first, &mut released)).await,
                },
                _ = ping.tick() => {
                    match tokio::time::timeout(shared.timeout, sink.ping::<redis::Value>()).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => break format!("pub/sub PING failed: {e}"),
                        Err(_) => break format!("pub/sub PING unanswered within {:?}", shared.timeout),
                    }
                }
            }
        };
        shared.uninstall();
        health.failed(&lost);
    }
}

/// `first` and every other release already queued, deduplicated.
fn drain(first: String, rx: &mut mpsc::UnboundedReceiver<String>) -> BTreeSet<String> {
    let mut all = BTreeSet::from([first]);
    while let Ok(more) = rx.try_recv() {
        all.insert(more);
    }
    all
}

/// One local subscriber. Field order matters: the receiver goes before the guard tells the
/// hub to check whether the topic is still wanted.
struct Listener {
    rx: broadcast::Receiver<Vec<u8>>,
    op: Arc<tokio::sync::Mutex<()>>,
    _guard: TopicGuard,
}

impl Listener {
    fn into_subscription(self) -> Subscription {
        Subscription::new(futures_util::stream::unfold(self, |mut l| async move {
            loop {
                match l.rx.recv().await {
                    Ok(msg) => return Some((msg, l)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }))
    }
}

struct TopicGuard {
    channel: String,
    released: mpsc::UnboundedSender<String>,
}

impl Drop for TopicGuard {
    fn drop(&mut self) {
        let _ = self.released.send(std::mem::take(&mut self.channel));
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
    fn futures_and_store_are_send_and_sync() {
        fn send<T: Send>(_: &T) {}
        fn shareable<T: Send + Sync + Clone + 'static>() {}
        send(&RedisStore::connect("redis://127.0.0.1"));
        shareable::<RedisStore>();
    }

    #[test]
    fn tls_urls_are_refused_clearly() {
        let e = RedisStore::connect_lazy("rediss://:pw@h:6380").unwrap_err();
        assert!(e.to_string().contains("TLS"), "{e}");
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
