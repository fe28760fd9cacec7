//! The route table: every channel lists its own endpoints (path, methods, how much body
//! they read, the handler) in a `routes()` function, and [`super::dispatch`] looks a request
//! up in the table those functions make. The `405` answers and their `Allow` lists come
//! from the table too, so a channel never writes a method list by hand.
//!
//! Lookup is by path, then by method: the first route whose [`Path`] matches names the
//! resource; among the routes with that same path the one whose [`Methods`] has the
//! request's method serves it; when none has, the answer is `405` with the union of their
//! methods. A path no route matches is `404`. Lookup walks static slices and compares
//! strings: it allocates nothing.

use std::future::Future;

use axum_core::body::Body;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{Method, Response, request::Parts};

use crate::core::failure::Failure;

/// What a handler answers: a response, or a failure rendered by the caller.
pub(crate) type Answer = Result<Response<Body>, Failure>;

/// The methods a route answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Methods(u8);

impl Methods {
    /// `GET` and `HEAD` (the read-only endpoints).
    pub(crate) const READ: Self = Self(1);
    /// `POST`.
    pub(crate) const POST: Self = Self(2);

    /// Whether `method` is one of these.
    pub(crate) fn has(self, method: &Method) -> bool {
        (self.0 & Self::READ.0 != 0 && matches!(*method, Method::GET | Method::HEAD))
            || (self.0 & Self::POST.0 != 0 && *method == Method::POST)
    }

    /// The `Allow` header value for these methods.
    pub(crate) fn allow(self) -> &'static str {
        match self.0 {
            1 => "GET, HEAD",
            2 => "POST",
            _ => "GET, HEAD, POST",
        }
    }
}

/// The path of a route, after the layer's prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Path {
    /// Exactly this path (`/login`).
    Exact(&'static str),
    /// `{before}{id}{after}` (`/scan/{id}/confirm`): the id is whatever lies between, possibly
    /// empty or with `/` in it; the channel checks it.
    Id {
        /// What comes before the id (`/scan/`).
        before: &'static str,
        /// What comes after it (`/confirm`, or nothing).
        after: &'static str,
    },
}

impl Path {
    /// The id in `sub` when it matches (`""` for an exact path).
    pub(crate) fn matches(self, sub: &str) -> Option<&str> {
        match self {
            Self::Exact(path) => (sub == path).then_some(""),
            Self::Id { before, after } => sub.strip_prefix(before)?.strip_suffix(after),
        }
    }
}

/// How much of the request body a route reads before its handler runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadBody {
    /// None: the handler gets an empty body.
    No,
    /// At most this many bytes (more is `413`), within the body deadline (else `408`).
    UpTo(usize),
}

/// What a handler is given.
pub(crate) struct Call<'a, S> {
    /// The channel's state.
    pub(crate) auth: &'a S,
    /// The request, without its body.
    pub(crate) req: &'a Parts,
    /// The id of a [`Path::Id`] route (`""` for an exact one).
    pub(crate) id: &'a str,
    /// The body, read as [`ReadBody`] says.
    pub(crate) body: Bytes,
}

/// A route's handler.
pub(crate) type Handler<S> = for<'a> fn(Call<'a, S>) -> BoxFuture<'a, Answer>;

/// A route's guard: whether the route takes this request at all (a channel that shares a
/// path with another, `login?channel=wecom`, or a callback whose state it made). A route
/// whose guard says no is passed over as if its path did not match.
pub(crate) type Guard = fn(&Parts) -> bool;

/// One endpoint of a channel: methods, path, body, handler.
pub(crate) struct Route<S: 'static> {
    /// The methods it answers.
    pub(crate) methods: Methods,
    /// Its path after the prefix.
    pub(crate) path: Path,
    /// The body it reads.
    pub(crate) body: ReadBody,
    /// What serves it.
    pub(crate) handler: Handler<S>,
    /// Whether it takes the request (`None`: every request on its path).
    pub(crate) when: Option<Guard>,
}

impl<S> Route<S> {
    /// A `GET`/`HEAD` route (no body read).
    pub(crate) const fn read(path: Path, handler: Handler<S>) -> Self {
        Self {
            methods: Methods::READ,
            path,
            body: ReadBody::No,
            handler,
            when: None,
        }
    }

    /// A `POST` route that reads no body.
    pub(crate) const fn post(path: Path, handler: Handler<S>) -> Self {
        Self {
            methods: Methods::POST,
            path,
            body: ReadBody::No,
            handler,
            when: None,
        }
    }

    /// A `POST` route that reads a body of at most `limit` bytes.
    pub(crate) const fn post_body(path: Path, limit: usize, handler: Handler<S>) -> Self {
        Self {
            methods: Methods::POST,
            path,
            body: ReadBody::UpTo(limit),
            handler,
            when: None,
        }
    }

    /// The route, taking only the requests `guard` accepts.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) const fn when(mut self, guard: Guard) -> Self {
        self.when = Some(guard);
        self
    }

    /// Whether the route takes `req` on a path it matches.
    fn takes(&self, req: &Parts) -> bool {
        self.when.is_none_or(|guard| guard(req))
    }
}

/// Boxes a handler's future (the one allocation of a call; the lookup makes none).
pub(crate) fn boxed<'a>(answer: impl Future<Output = Answer> + Send + 'a) -> BoxFuture<'a, Answer> {
    Box::pin(answer)
}

/// A channel's endpoints as the layer sees them, whatever the channel's state type: where
/// a request goes, and serving it. [`Mounted`] is the one implementation.
pub(crate) trait Endpoints: Send + Sync + 'static {
    /// The route serving `method` on `sub` and the id in the path; `None` when no route of
    /// this channel has the path, `Err(allow)` when routes have it but not the method.
    fn find<'s>(&self, sub: &'s str, req: &Parts) -> Option<Result<Hit<'s>, Methods>>;

    /// The path of route `index` (for tests of the table).
    #[cfg(test)]
    fn route_path(&self, index: usize) -> Path;

    /// Serves the request with route `found.index`.
    fn call<'a>(&'a self, found: Hit<'a>, req: &'a Parts, body: Bytes) -> BoxFuture<'a, Answer>;
}

/// Where a request goes within one channel.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hit<'s> {
    /// The route's position in the channel's list.
    index: usize,
    /// The id of a [`Path::Id`] route (`""` for an exact one).
    pub(crate) id: &'s str,
    /// The body the route reads.
    pub(crate) body: ReadBody,
}

impl Hit<'_> {
    /// The route's position in its channel's list.
    #[cfg(test)]
    pub(crate) fn index(&self) -> usize {
        self.index
    }
}

/// A channel mounted on the layer: its state and its routes.
pub(crate) struct Mounted<S: 'static> {
    state: S,
    routes: &'static [Route<S>],
}

impl<S: Send + Sync + 'static> Mounted<S> {
    /// Mounts `routes`, served with `state`.
    pub(crate) fn boxed(state: S, routes: &'static [Route<S>]) -> Box<dyn Endpoints> {
        Box::new(Self { state, routes })
    }
}

impl<S: Send + Sync + 'static> Endpoints for Mounted<S> {
    fn find<'s>(&self, sub: &'s str, req: &Parts) -> Option<Result<Hit<'s>, Methods>> {
        let (path, id) = self
            .routes
            .iter()
            .find_map(|r| Some((r.path, r.path.matches(sub).filter(|_| r.takes(req))?)))?;
        let mut allowed = 0;
        for (index, route) in self.routes.iter().enumerate() {
            if route.path != path || !route.takes(req) {
                continue;
            }
            if route.methods.has(&req.method) {
                return Some(Ok(Hit {
                    index,
                    id,
                    body: route.body,
                }));
            }
            allowed |= route.methods.0;
        }
        Some(Err(Methods(allowed)))
    }

    #[cfg(test)]
    fn route_path(&self, index: usize) -> Path {
        self.routes[index].path
    }

    fn call<'a>(&'a self, found: Hit<'a>, req: &'a Parts, body: Bytes) -> BoxFuture<'a, Answer> {
        (self.routes[found.index].handler)(Call {
            auth: &self.state,
            req,
            id: found.id,
            body,
        })
    }
}

/// The route table: every mounted channel, in registration order. Order matters only where
/// paths overlap (a channel lists its more specific `{id}` paths first).
pub(crate) type Table = [Box<dyn Endpoints>];

/// The channel and route serving `method` on `sub`: `404` when no route has the path, `405`
/// (with the path's methods in `Allow`) when none of those has the method.
pub(crate) fn find<'t, 's>(
    table: &'t Table,
    sub: &'s str,
    req: &Parts,
) -> Result<(&'t dyn Endpoints, Hit<'s>), Failure> {
    for channel in table {
        match channel.find(sub, req) {
            None => {}
            Some(Ok(found)) => return Ok((channel.as_ref(), found)),
            Some(Err(allowed)) => return Err(Failure::MethodNotAllowed(allowed.allow())),
        }
    }
    Err(Failure::NotFound("no such WeChat login endpoint"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: Method, uri: &str) -> Parts {
        http::Request::builder()
            .method(method)
            .uri(uri)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    fn handler(_: Call<'_, u8>) -> BoxFuture<'_, Answer> {
        boxed(async { Err(Failure::NotFound("test")) })
    }

    fn wecom(req: &Parts) -> bool {
        req.uri.query() == Some("channel=wecom")
    }

    static GUARDED: [Route<u8>; 2] = [
        Route::read(Path::Exact("/login"), handler).when(wecom),
        Route::post(Path::Exact("/wecom/push"), handler),
    ];
    static PLAIN: [Route<u8>; 2] = [
        Route::read(Path::Exact("/login"), handler),
        Route::read(Path::Exact("/callback"), handler),
    ];

    /// A guarded route takes only what its guard accepts; the rest falls through to the
    /// next channel with the same path, and a wrong method on it is still `405`.
    #[test]
    fn guards_share_a_path_between_channels() {
        let table: Vec<Box<dyn Endpoints>> =
            vec![Mounted::boxed(1u8, &GUARDED), Mounted::boxed(2u8, &PLAIN)];
        // (the first channel?, the route's index) serving a GET of `uri`.
        let which = |uri: &str| {
            let req = parts(Method::GET, uri);
            let path = req.uri.path().to_owned();
            find(&table, &path, &req)
                .map(|(channel, hit)| (std::ptr::addr_eq(channel, table[0].as_ref()), hit.index()))
                .ok()
        };
        assert_eq!(
            which("/login?channel=wecom"),
            Some((true, 0)),
            "the guarded route"
        );
        assert_eq!(
            which("/login?channel=website"),
            Some((false, 0)),
            "falls through"
        );
        assert_eq!(which("/login"), Some((false, 0)));
        assert_eq!(which("/callback"), Some((false, 1)));
        let post = parts(Method::POST, "/login?channel=wecom");
        assert!(matches!(
            find(&table, "/login", &post),
            Err(Failure::MethodNotAllowed("GET, HEAD"))
        ));
        let get = parts(Method::GET, "/wecom/push");
        assert!(matches!(
            find(&table, "/wecom/push", &get),
            Err(Failure::MethodNotAllowed("POST"))
        ));
    }
}
