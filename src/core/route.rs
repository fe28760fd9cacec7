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
    fn has(self, method: &Method) -> bool {
        (self.0 & Self::READ.0 != 0 && matches!(*method, Method::GET | Method::HEAD))
            || (self.0 & Self::POST.0 != 0 && *method == Method::POST)
    }

    /// The `Allow` header value for these methods.
    fn allow(self) -> &'static str {
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
    fn matches(self, sub: &str) -> Option<&str> {
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
}

impl<S> Route<S> {
    /// A `GET`/`HEAD` route (no body read).
    pub(crate) const fn read(path: Path, handler: Handler<S>) -> Self {
        Self {
            methods: Methods::READ,
            path,
            body: ReadBody::No,
            handler,
        }
    }

    /// A `POST` route that reads no body.
    pub(crate) const fn post(path: Path, handler: Handler<S>) -> Self {
        Self {
            methods: Methods::POST,
            path,
            body: ReadBody::No,
            handler,
        }
    }

    /// A `POST` route that reads a body of at most `limit` bytes.
    pub(crate) const fn post_body(path: Path, limit: usize, handler: Handler<S>) -> Self {
        Self {
            methods: Methods::POST,
            path,
            body: ReadBody::UpTo(limit),
            handler,
        }
    }
}

/// Boxes a handler's future (the one allocation of a call; the lookup makes none).
pub(crate) fn boxed<'a>(answer: impl Future<Output = Answer> + Send + 'a) -> BoxFuture<'a, Answer> {
    Box::pin(answer)
}

/// The table: one `routes()` function per channel.
pub(crate) type Table<S> = [fn() -> &'static [Route<S>]];

/// The route serving `method` on `sub` and the id in the path: `404` when no route has the
/// path, `405` (with the path's methods in `Allow`) when none of those has the method.
pub(crate) fn find<'s, S>(
    table: &Table<S>,
    sub: &'s str,
    method: &Method,
) -> Result<(&'static Route<S>, &'s str), Failure> {
    let routes = || table.iter().flat_map(|channel| channel().iter());
    let Some((path, id)) = routes().find_map(|r| Some((r.path, r.path.matches(sub)?))) else {
        return Err(Failure::NotFound("no such WeChat login endpoint"));
    };
    let mut allowed = 0;
    for route in routes().filter(|r| r.path == path) {
        if route.methods.has(method) {
            return Ok((route, id));
        }
        allowed |= route.methods.0;
    }
    Err(Failure::MethodNotAllowed(Methods(allowed).allow()))
}
