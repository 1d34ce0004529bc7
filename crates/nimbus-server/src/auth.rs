//! Credentials on a request: `Authorization: Convex <adminKey>[:<base64 identity>]`,
//! `Authorization: Bearer <JWT>`, or `?adminKey=`. Identity is data handed to functions,
//! never authority: only a verified admin key grants admin rights.

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use nimbus_functions::Caller;
use serde_json::Value as Json;

use crate::error::ApiError;
use crate::tenants::TenantRegistry;

/// Who is calling.
#[derive(Debug, Clone, PartialEq)]
pub enum Credentials {
    /// No credentials: public functions only.
    Anonymous,
    /// A valid admin key of the tenant, optionally acting as a user.
    Admin {
        /// Identity attributes to act as.
        acting_as: Option<Json>,
    },
}

impl Credentials {
    /// The caller and identity for the function runner.
    pub fn caller(&self) -> (Caller, Option<Json>) {
        match self {
            Self::Anonymous => (Caller::Public, None),
            Self::Admin { acting_as } => (Caller::Admin, acting_as.clone()),
        }
    }

    /// Whether the caller is an admin.
    pub fn is_admin(&self) -> bool {
        matches!(self, Self::Admin { .. })
    }
}

fn bad_key() -> ApiError {
    ApiError::unauthenticated(
        "BadAdminKey",
        "The provided admin key was invalid for this deployment. Check the key (it looks like `<tenant>|<secret>`) or issue a new one with `nimbus keys create`.",
    )
}

/// Checks an admin key (with an optional `:<base64 identity>` suffix).
pub fn admin_credentials(
    registry: &TenantRegistry,
    tenant: &str,
    value: &str,
) -> Result<Credentials, ApiError> {
    let (key, acting) = match value.split_once(':') {
        Some((key, identity)) => (key, Some(identity)),
        None => (value, None),
    };
    if !registry.verify_admin_key(tenant, key.trim()) {
        return Err(bad_key());
    }
    let acting_as = match acting {
        Some(encoded) => {
            let bytes = STANDARD.decode(encoded.trim()).map_err(|_| {
                ApiError::unauthenticated(
                    "BadAdminKey",
                    "the identity after the admin key is not base64",
                )
            })?;
            let identity: Json = serde_json::from_slice(&bytes).map_err(|_| {
                ApiError::unauthenticated(
                    "BadAdminKey",
                    "the identity after the admin key is not JSON",
                )
            })?;
            Some(normalize_identity(identity))
        }
        None => None,
    };
    Ok(Credentials::Admin { acting_as })
}

/// Ensures `tokenIdentifier` is present (`<issuer>|<subject>`), as Convex's identity object has.
pub fn normalize_identity(mut identity: Json) -> Json {
    if identity.get("tokenIdentifier").is_none()
        && let Some(object) = identity.as_object_mut()
    {
        let issuer = object
            .get("issuer")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_owned();
        let subject = object
            .get("subject")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_owned();
        object.insert(
            "tokenIdentifier".into(),
            Json::String(format!("{issuer}|{subject}")),
        );
    }
    identity
}

/// The error for end-user JWTs, which need an auth provider (`auth.config.js`).
pub fn no_auth_provider() -> ApiError {
    ApiError::unauthenticated(
        "NoAuthProvider",
        "No auth provider found matching the given token: this deployment has no auth providers configured (auth.config.js is not supported by Nimbus yet)",
    )
}

/// Reads the request's credentials for `tenant`.
pub fn credentials(
    headers: &HeaderMap,
    query: Option<&str>,
    registry: &TenantRegistry,
    tenant: &str,
) -> Result<Credentials, ApiError> {
    if let Some(value) = headers.get(axum::http::header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| bad_key())?.trim();
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        return match scheme.to_ascii_lowercase().as_str() {
            "convex" => admin_credentials(registry, tenant, rest.trim()),
            "bearer" => Err(no_auth_provider()),
            _ => Err(ApiError::unauthenticated(
                "BadAuthHeader",
                "Authorization must be `Convex <adminKey>` or `Bearer <token>`",
            )),
        };
    }
    if let Some(query) = query {
        for (name, value) in url_pairs(query) {
            if name == "adminKey" {
                return admin_credentials(registry, tenant, &value);
            }
        }
    }
    Ok(Credentials::Anonymous)
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}
