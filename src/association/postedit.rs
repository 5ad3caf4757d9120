//! `GET /postedit.js`: the post-edit module a wiki loads (`mw.loader.load(url)` in
//! `MediaWiki:Common.js` or a gadget). One self-contained file, compiled in, served as it is:
//! no build step and no files to deploy beside the binary. Why the script is shaped as it is
//! (the wiki's cookies must reach this service) is written at its top.

use std::sync::LazyLock;

use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;

use crate::gateway::{ApiError, Request};

/// The module, compiled in.
const SCRIPT: &str = include_str!("postedit.js");

/// Its strong tag, computed once: the bytes never change while the process runs.
static TAG: LazyLock<String> = LazyLock::new(|| crate::gateway::etag::of(SCRIPT.as_bytes()));

/// Wikis cache it for a few minutes; a new release reaches every page within that.
const CACHE_CONTROL: &str = "public, max-age=300";

pub async fn script<S>(req: Request<S>) -> Result<Response, ApiError> {
    let tag = TAG.as_str();
    let unchanged = req
        .if_none_match
        .as_deref()
        .is_some_and(|h| crate::gateway::etag::matches(h, tag));
    let mut resp = if unchanged {
        let mut r = Response::new(Vec::new().into());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(SCRIPT.into());
        r.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("text/javascript; charset=utf-8"),
        );
        r
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(tag) {
        h.insert("etag", v);
    }
    h.insert("cache-control", HeaderValue::from_static(CACHE_CONTROL));
    Ok(resp)
}
