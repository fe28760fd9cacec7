//! The shared pub/sub hub: one Redis connection per store multiplexes every topic, fans
//! messages out to local subscribers, and subscribes them again after a reconnect.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use futures_util::StreamExt;
use redis::{Client, aio::PubSubSink};
use tokio::sync::{broadcast, mpsc, watch};

use super::{CONNECT_TIMEOUT, MAX_BACKOFF, MIN_BACKOFF, health::Health};
use crate::core::store::Subscription;

/// How often an idle pub/sub connection is PINGed, to notice a peer that vanished silently.
const PUBSUB_PING_EVERY: Duration = Duration::from_secs(15);
/// Subscribers that fall this far behind lose the oldest messages (as in `MemoryStore`).
const TOPIC_BUFFER: usize = 16;
/// The layer's own topics (every key it writes is `…wechat-auth:…`, whatever the prefix)
/// arrive through one pattern subscription, made once per connection: a scan's waiting poll
/// then costs no `SUBSCRIBE` and no `UNSUBSCRIBE` (two round trips per scan). Messages for
/// topics nobody here listens to (other scans, another prefix) are dropped on arrival. Any
/// other topic is subscribed on its own, as it comes and goes.
const LAYER_TOPICS: &str = "*wechat-auth:*";

/// Whether `channel` arrives through [`LAYER_TOPICS`].
fn by_pattern(channel: &str) -> bool {
    channel.contains("wechat-auth:")
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

pub(super) struct Hub {
    pub(super) shared: Arc<HubShared>,
    /// Topics whose last local subscriber went (sent by `TopicGuard::drop`).
    released: mpsc::UnboundedSender<String>,
}

pub(super) struct HubShared {
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
    /// `clients`: the servers to open the connection to, tried in turn (a Cluster's seeds:
    /// any node relays every `PUBLISH` of the Cluster).
    pub(super) fn start(clients: Arc<[Client]>, health: Arc<Health>, timeout: Duration) -> Self {
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
        tokio::spawn(run_hub(clients, shared.clone(), rx, health));
        Self { shared, released }
    }

    /// A local receiver on `channel` (not yet confirmed by Redis).
    pub(super) fn listen(&self, channel: &str) -> Listener {
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
        if by_pattern(channel) {
            // A live sink has the pattern: `install` subscribes it before publishing the sink.
            return Ok(None);
        }
        match state.topics.get(channel) {
            Some(t) if t.confirmed == state.generation => Ok(None),
            _ => Ok(Some((sink.clone(), state.generation))),
        }
    }

    /// Waits until Redis has confirmed the subscription of `channel` on the live connection.
    ///
    /// While Redis is known to be unreachable, asks the hub for one immediate connection
    /// attempt (Redis may just be back) and fails if that one fails too.
    pub(super) async fn confirm(
        &self,
        channel: &str,
        op: &tokio::sync::Mutex<()>,
    ) -> Result<(), String> {
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
            let connected = state.sink.is_some() && !by_pattern(&channel);
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

    /// Waits for Redis to confirm `command` on the pub/sub connection, within the timeout.
    async fn confirmed(
        &self,
        command: &str,
        sent: impl Future<Output = redis::RedisResult<()>>,
    ) -> Result<(), String> {
        match tokio::time::timeout(self.timeout, sent).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("Redis {command} failed: {e}")),
            Err(_) => Err(format!(
                "Redis did not confirm {command} within {:?}",
                self.timeout
            )),
        }
    }

    /// A fresh connection: subscribe the layer's pattern and every other topic someone
    /// listens to, then let subscribers in.
    async fn install(&self, mut sink: PubSubSink) -> Result<(), String> {
        self.confirmed("PSUBSCRIBE", sink.psubscribe(LAYER_TOPICS))
            .await?;
        let channels: Vec<String> = {
            let mut state = self.lock();
            state.topics.retain(|_, t| t.tx.receiver_count() > 0);
            state
                .topics
                .keys()
                .filter(|c| !by_pattern(c))
                .cloned()
                .collect()
        };
        if !channels.is_empty() {
            self.confirmed("SUBSCRIBE", sink.subscribe(&channels))
                .await?;
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
    clients: Arc<[Client]>,
    shared: Arc<HubShared>,
    mut released: mpsc::UnboundedReceiver<String>,
    health: Arc<Health>,
) {
    let mut backoff = MIN_BACKOFF;
    // The next server to try; moves on after every failure or loss.
    let mut next = 0;
    loop {
        let client = &clients[next % clients.len()];
        next = next.wrapping_add(1);
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
pub(super) struct Listener {
    rx: broadcast::Receiver<Vec<u8>>,
    pub(super) op: Arc<tokio::sync::Mutex<()>>,
    _guard: TopicGuard,
}

impl Listener {
    pub(super) fn into_subscription(self) -> Subscription {
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
