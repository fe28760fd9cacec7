//! The command connection: one multiplexed, self-healing connection to a single server
//! (`ConnectionManager`), or the async Cluster client's connection to every primary.

use std::sync::OnceLock;

use redis::{
    Client, Cmd, Pipeline, RedisFuture, RedisResult, Value,
    aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig},
    cluster::ClusterClient,
    cluster_async::ClusterConnection,
};

use super::{CONNECT_TIMEOUT, MAX_BACKOFF, MIN_BACKOFF};

/// Connection attempts a command waits for, after the first, before it fails: a blip of a
/// few hundred milliseconds (a restart, a failover) is absorbed, a dead Redis is reported
/// quickly. The next command starts a new round, so recovery needs no timer.
const COMMAND_RECONNECT_RETRIES: usize = 2;

/// Where commands go; the connection is made on first use, inside the runtime.
pub(super) enum Backend {
    Single {
        client: Client,
        manager: OnceLock<ConnectionManager>,
    },
    Cluster {
        client: Box<ClusterClient>,
        /// Made by the first command that finds it empty; a failed attempt leaves it empty,
        /// so the next command tries again.
        conn: tokio::sync::OnceCell<ClusterConnection>,
    },
}

impl Backend {
    pub(super) fn single(client: Client) -> Self {
        Self::Single {
            client,
            manager: OnceLock::new(),
        }
    }

    pub(super) fn cluster(client: ClusterClient) -> Self {
        Self::Cluster {
            client: Box::new(client),
            conn: tokio::sync::OnceCell::new(),
        }
    }

    /// A handle on the command connection (cheap: both kinds are clones of one connection).
    pub(super) async fn conn(&self) -> RedisResult<Conn> {
        match self {
            Self::Single { client, manager } => {
                if let Some(m) = manager.get() {
                    return Ok(Conn::Single(m.clone()));
                }
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    // Our own timeout bounds each operation; a late answer is simply dropped.
                    .set_response_timeout(None)
                    .set_number_of_retries(COMMAND_RECONNECT_RETRIES)
                    .set_min_delay(MIN_BACKOFF)
                    .set_max_delay(MAX_BACKOFF)
                    .set_pipeline_buffer_size(1024);
                let fresh = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
                Ok(Conn::Single(manager.get_or_init(|| fresh).clone()))
            }
            Self::Cluster { client, conn } => {
                let c = conn
                    .get_or_try_init(|| async {
                        let config = redis::cluster::ClusterConfig::new()
                            .set_connection_timeout(CONNECT_TIMEOUT);
                        client.get_async_connection_with_config(config).await
                    })
                    .await?;
                Ok(Conn::Cluster(c.clone()))
            }
        }
    }
}

/// One command connection of either kind.
pub(super) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}
