//! MediaWiki's REST error shape, for every error the gateway answers — its own and warp's.

use std::convert::Infallible;

use serde::Serialize;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Reply;

use crate::infra::db::DbError;

/// An error answer: `{"errorKey", "messageTranslations": {"en"}, "httpCode", "httpReason"}`.
/// Boxed, so that `Result<T, ApiError>` stays small on the happy path.
#[derive(Debug, Clone)]
pub struct ApiError(Box<ErrorBody>);

/// The serialized error. Extra members (`name`, `checks`) follow MediaWiki's habit of adding
/// context fields.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    #[serde(rename = "errorKey")]
    pub key: String,
    #[serde(rename = "messageTranslations")]
    pub messages: Messages,
    #[serde(rename = "httpCode")]
    pub code: u16,
    #[serde(rename = "httpReason")]
    pub reason: String,
    /// The parameter or field at fault, as ParamValidator reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<serde_json::Value>,
    /// Seconds for a `Retry-After` header: a `503` that will pass by itself says when to
    /// come back, so a client retries instead of giving up.
    #[serde(skip)]
    pub retry_after: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Messages {
    pub en: String,
}

impl ApiError {
    pub fn new(status: StatusCode, key: &str, message: impl Into<String>) -> Self {
        Self(Box::new(ErrorBody {
            key: key.to_owned(),
            messages: Messages { en: message.into() },
            code: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("Error").to_owned(),
            name: None,
            checks: None,
            retry_after: None,
        }))
    }

    pub fn with_name(mut self, name: &str) -> Self {
        self.0.name = Some(name.to_owned());
        self
    }

    pub fn with_checks(mut self, checks: serde_json::Value) -> Self {
        self.0.checks = Some(checks);
        self
    }

    pub fn with_retry_after(mut self, seconds: u32) -> Self {
        self.0.retry_after = Some(seconds);
        self
    }

    /// The cache is still warming up and this answer needs it: come back shortly. Never a
    /// `4xx` a warm cache would not give (a frontend takes a `400` as final).
    pub fn not_ready() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "campaignevents-not-ready",
            "The service is starting up; please try again in a moment.",
        )
        .with_retry_after(1)
    }

    pub fn key(&self) -> &str {
        &self.0.key
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// A body that is not JSON, not an object of the expected shape, or mistyped.
    pub fn invalid_body(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "rest-invalid-body",
            format!("The request body is invalid: {detail}"),
        )
    }

    /// A path or query parameter that is not what the route takes.
    pub fn bad_param(name: &str, key: &str, detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            key,
            format!("Invalid value for parameter `{name}`: {detail}"),
        )
        .with_name(name)
    }

    pub fn unauthorized(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "rest-unauthorized",
            format!("You must be logged in: {detail}"),
        )
    }

    pub fn forbidden(key: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, key, message)
    }

    pub fn event_not_found(id: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "campaignevents-rest-event-not-found",
            format!("There is no event with ID {id}."),
        )
    }

    pub fn event_deleted(id: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "campaignevents-rest-event-deleted",
            format!("The event with ID {id} has been deleted."),
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "rest-internal-error",
            "An internal error occurred; it has been logged.",
        )
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(detail) => {
                tracing::warn!(%detail, "database unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "campaignevents-rest-db-unavailable",
                    "The database is unavailable right now; please try again shortly.",
                )
            }
            other => {
                tracing::error!(error = %other, "database error");
                ApiError::internal()
            }
        }
    }
}

impl Reply for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry_after = self.0.retry_after;
        let mut resp = warp::reply::json(&*self.0).into_response();
        *resp.status_mut() = status;
        if let Some(seconds) = retry_after {
            resp.headers_mut().insert(
                warp::http::header::RETRY_AFTER,
                warp::http::HeaderValue::from(seconds),
            );
        }
        resp
    }
}

/// The body is larger than `MAX_BODY_BYTES`.
#[derive(Debug)]
pub struct BodyTooLarge;
impl warp::reject::Reject for BodyTooLarge {}

/// The connection failed while the body was being read.
#[derive(Debug)]
pub struct BodyUnreadable;
impl warp::reject::Reject for BodyUnreadable {}

/// Maps warp's own rejections (no route, wrong method, body limits) to the error shape.
pub async fn recover(rejection: warp::Rejection) -> Result<Response, Infallible> {
    use warp::reject;
    let e = if rejection.is_not_found() {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "rest-no-match",
            "The requested relative path did not match any known handler.",
        )
    } else if rejection.find::<reject::PayloadTooLarge>().is_some()
        || rejection.find::<BodyTooLarge>().is_some()
    {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "rest-request-body-too-large",
            "The request body is larger than this service accepts.",
        )
    } else if rejection.find::<BodyUnreadable>().is_some() {
        ApiError::invalid_body("the body could not be read")
    } else if rejection.find::<reject::UnsupportedMediaType>().is_some() {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "rest-unsupported-content-type",
            "The request body must be application/json.",
        )
    } else if let Some(e) = rejection.find::<reject::InvalidQuery>() {
        ApiError::new(StatusCode::BAD_REQUEST, "rest-invalid-query", e.to_string())
    } else if let Some(e) = rejection.find::<reject::InvalidHeader>() {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "rest-invalid-header",
            e.to_string(),
        )
    } else if let Some(e) = rejection.find::<reject::MissingHeader>() {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "rest-missing-header",
            e.to_string(),
        )
    } else if let Some(wrong) = rejection.find::<WrongMethod>() {
        let mut resp = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "rest-wrong-method",
            format!(
                "The request method is not supported for this path; it serves {}.",
                wrong.allow
            ),
        )
        .into_response();
        // RFC 9110: a 405 names the methods the target serves.
        if let Ok(v) = warp::http::HeaderValue::from_str(&wrong.allow) {
            resp.headers_mut().insert(warp::http::header::ALLOW, v);
        }
        return Ok(resp);
    } else {
        tracing::error!(?rejection, "unhandled rejection");
        ApiError::internal()
    };
    Ok(e.into_response())
}

/// The rejection for a path that matched with the wrong method. warp's own
/// `MethodNotAllowed` cannot be built outside warp (nor carry the methods); `recover` maps this
/// one to 405 with the `Allow` header RFC 9110 requires.
#[derive(Debug)]
pub struct WrongMethod {
    /// The `Allow` header: every method some route serves on this path.
    pub allow: String,
}
impl warp::reject::Reject for WrongMethod {}
