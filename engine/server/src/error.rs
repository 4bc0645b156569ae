//! What can go wrong in the engine's operations ([`EngineError`]), and
//! how every route answers a failure ([`ApiError`]: a status and
//! `{"error": ...}`), in one place for the contract routes and the
//! integrations' routes alike. Uses: `ids`, `store`, `rulesets`, `pico`
//! (their errors), axum, serde_json.

use crate::ids::{Eci, PicoId, Rid};
use crate::pico::PicoError;
use crate::rulesets::SourceError;
use crate::store::StoreError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// What can go wrong in an engine operation.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No channel has this eci.
    #[error("ECI not found: {0}")]
    UnknownEci(Eci),
    /// No pico has this id.
    #[error("Pico not found: {0}")]
    UnknownPico(PicoId),
    /// No ruleset has this rid.
    #[error("Ruleset not found: {0}")]
    UnknownRuleset(Rid),
    /// The ruleset is stored but no longer compiles.
    #[error("Ruleset {0} is broken: {1}; register it again to repair it")]
    BrokenRuleset(Rid, String),
    /// The channel's policy refuses this.
    #[error("{0}")]
    Denied(String),
    /// A family channel used by another than the pico it belongs to (the
    /// Pico Engine's text, and the channel).
    #[error("This is a family channel and only the owner can use it: {0}")]
    FamilyChannel(Eci),
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// A ruleset's `use module` cannot be satisfied: a module that is not
    /// registered, or a dependency cycle (docs/spec/krl-language.md 8.1).
    #[error("{0}")]
    Module(String),
    /// KRL that does not parse or check.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// Something inside a pico.
    #[error(transparent)]
    Pico(#[from] PicoError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Results of engine operations.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// An error answer: a status and `{"error": "...", ...}`. Every failure
/// of every route goes through here.
#[derive(Debug)]
pub struct ApiError {
    /// The status.
    pub(crate) status: StatusCode,
    /// `{"error": ...}` and what else the error tells.
    pub(crate) body: Value,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: json!({ "error": message.into() }),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        let status = match &e {
            EngineError::UnknownEci(_)
            | EngineError::UnknownPico(_)
            | EngineError::UnknownRuleset(_) => StatusCode::NOT_FOUND,
            EngineError::BrokenRuleset(rid, _) => {
                return ApiError {
                    status: StatusCode::CONFLICT,
                    body: json!({"error": e.to_string(), "rid": rid}),
                }
            }
            EngineError::Denied(_) | EngineError::FamilyChannel(_) => StatusCode::FORBIDDEN,
            EngineError::BadRequest(_) | EngineError::Module(_) => StatusCode::BAD_REQUEST,
            EngineError::Source(s) => {
                return ApiError {
                    status: StatusCode::BAD_REQUEST,
                    body: json!({"error": s.message, "line": s.line, "col": s.col}),
                }
            }
            EngineError::Pico(p) => match p {
                PicoError::Gone(_) | PicoError::NotInstalled(_) | PicoError::UnknownRuleset(_) => {
                    StatusCode::NOT_FOUND
                }
                PicoError::NotShared { .. } => StatusCode::FORBIDDEN,
                PicoError::NotRunning { rid, message } => {
                    tracing::warn!("{message}");
                    return ApiError {
                        status: StatusCode::SERVICE_UNAVAILABLE,
                        body: json!({"error": message, "rid": rid}),
                    };
                }
                PicoError::InUse { .. } | PicoError::ModuleNotInstalled { .. } => {
                    StatusCode::CONFLICT
                }
                PicoError::Refused(ev) => {
                    // The ruleset's own words about a configuration it
                    // refuses: for the installer, not a position in KRL.
                    return ApiError {
                        status: StatusCode::BAD_REQUEST,
                        body: json!({"error": ev.refusal().unwrap_or(&ev.message),
                                     "rid": ev.rid}),
                    };
                }
                PicoError::Eval(ev) => {
                    // KRL runtime errors name the ruleset, rule, line, column.
                    return ApiError {
                        status: StatusCode::INTERNAL_SERVER_ERROR,
                        body: json!({"error": e.to_string(), "rid": ev.rid, "rule": ev.rule,
                                     "line": ev.line, "col": ev.col}),
                    };
                }
                PicoError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                PicoError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            EngineError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!("{e}");
        }
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.status, Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_contract_statuses() {
        let status = |e: EngineError| ApiError::from(e).status;
        assert_eq!(
            status(EngineError::UnknownEci(Eci::new("x"))),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status(EngineError::Denied("no".into())),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status(PicoError::NotInstalled(Rid::new("r")).into()),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status(
                PicoError::NotShared {
                    rid: Rid::new("r"),
                    name: "f".into()
                }
                .into()
            ),
            StatusCode::FORBIDDEN
        );
    }
}
