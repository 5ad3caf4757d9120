//! The report routes: `…/contributions/participants`, `…/contributions/pages` (JSON, a page
//! of totals at a time with an opaque continuation) and `…/contributions.csv` (streamed).

use std::str::FromStr;

use warp::http::HeaderValue;
use warp::reply::Response;
use warp::Reply;

use crate::association::http::reader;
use crate::events::http::existing_event;
use crate::gateway::{ApiError, Query, Request};
use crate::reports::Context;
use crate::reports::{csv, db};

const DEFAULT_LIMIT: i64 = 100;
/// How deep a continuation may go (rows skipped): far beyond any event's participants or
/// pages, and it keeps the offset inside what a query plans cheaply.
pub(crate) const MAX_OFFSET: i64 = 99_999_999;
/// The `continue` token's shape: the offset of the next page, as the previous page gave it.
pub const CONTINUE_PATTERN: &str = "^[1-9][0-9]{0,7}$";

/// `limit` and the offset `continue` names.
fn window(query: &Query) -> Result<(i64, i64), ApiError> {
    let limit = query.page_size(DEFAULT_LIMIT)?;
    let offset = match query.get("continue")? {
        None => 0,
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|o| (1..=MAX_OFFSET).contains(o) && !c.starts_with(['+', '0']))
            .ok_or_else(|| {
                ApiError::bad_param(
                    "continue",
                    "paramvalidator-badvalue",
                    "not a continuation token from this API",
                )
            })?,
    };
    Ok((limit, offset))
}

/// `{key: [...], continue?}`: `continue` when the page was full (there may be more).
fn paged<T: serde::Serialize>(key: &str, items: Vec<T>, limit: i64, offset: i64) -> Response {
    let full = items.len() as i64 == limit;
    let mut body = serde_json::json!({ key: items });
    if full {
        body["continue"] = (offset + limit).to_string().into();
    }
    warp::reply::json(&body).into_response()
}

/// `GET …/contributions/participants`: each participant's totals, most edits first.
pub async fn participants(req: Request<Context>) -> Result<Response, ApiError> {
    let state = &req.state;
    let event = req.event_id()?;
    let (limit, offset) = window(&req.query)?;
    req.query.wiki()?; // only names the wiki that signs the reader in
    let record = existing_event(&state.pool, event).await?;
    let reader = reader(&req, &record);
    let items = db::participants(&state.pool, event, reader, limit, offset).await?;
    let mut resp = paged("participants", items, limit, offset);
    // What a reader may see depends on who asks.
    resp.headers_mut().insert(
        "cache-control",
        HeaderValue::from_static("private, no-cache"),
    );
    Ok(resp)
}

/// `GET …/contributions/pages`: each page's totals, most edits first.
pub async fn pages(req: Request<Context>) -> Result<Response, ApiError> {
    let state = &req.state;
    let event = req.event_id()?;
    let (limit, offset) = window(&req.query)?;
    existing_event(&state.pool, event).await?;
    let items = db::pages(&state.pool, event, limit, offset).await?;
    Ok(paged("pages", items, limit, offset))
}

/// `GET …/contributions.csv`: every contribution, streamed (see [`csv`]).
pub async fn export_csv(req: Request<Context>) -> Result<Response, ApiError> {
    let state = &req.state;
    let event = req.event_id()?;
    req.query.wiki()?; // only names the wiki that signs the reader in
    let record = existing_event(&state.pool, event).await?;
    let reader = reader(&req, &record);
    // The name was checked against the same database when the event was stored.
    let tz = chrono_tz::Tz::from_str(record.facts.timezone.as_str()).unwrap_or(chrono_tz::UTC);
    let mut resp =
        warp::reply::stream(csv::stream(state.pool.clone(), event, tz, reader)).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        "content-type",
        HeaderValue::from_static("text/csv; charset=utf-8; header=present"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"event-{event}-contributions.csv\""
    )) {
        headers.insert("content-disposition", v);
    }
    // What a reader may see depends on who asks.
    headers.insert(
        "cache-control",
        HeaderValue::from_static("private, no-store"),
    );
    Ok(resp)
}
