//! Tenancy at the edge: which tenant a request is for (a `/t/<tenant>` path prefix or a
//! `<tenant>.<domain>` Host), and the admission decision that travels with the request.

mod registry;

pub use registry::{SYSTEM_TENANT, TenantRecord, TenantRegistry, TenantStatus};

use nimbus_storage::TenantName;

/// The admission decision for one request: made once at the edge, carried as data.
#[derive(Debug, Clone)]
pub struct Admission {
    /// The tenant.
    pub tenant: TenantName,
    /// The public base URL of the tenant's deployment (`http://host/t/name` or `http://name.host`).
    pub base_url: String,
}

/// Splits `/t/<tenant>/rest` into the tenant and `/rest`.
pub fn tenant_from_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/t/")?;
    match rest.find('/') {
        Some(i) => Some((&rest[..i], &rest[i..])),
        None => Some((rest, "/")),
    }
}

/// The tenant named by a Host header: `<tenant>.localhost[:port]` or `<tenant>.<domain>[:port]`.
pub fn tenant_from_host<'a>(host: &'a str, domain: Option<&str>) -> Option<&'a str> {
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    for suffix in ["localhost"].into_iter().chain(domain) {
        if let Some(name) = host.strip_suffix(suffix).and_then(|h| h.strip_suffix('.'))
            && !name.is_empty()
            && !name.contains('.')
        {
            return Some(name);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_come_from_path_or_host() {
        assert_eq!(
            tenant_from_path("/t/chat/api/query"),
            Some(("chat", "/api/query"))
        );
        assert_eq!(tenant_from_path("/t/chat"), Some(("chat", "/")));
        assert_eq!(tenant_from_path("/api/query"), None);
        assert_eq!(tenant_from_host("chat.localhost:3210", None), Some("chat"));
        assert_eq!(
            tenant_from_host("chat.example.com", Some("example.com")),
            Some("chat")
        );
        assert_eq!(tenant_from_host("a.b.localhost", None), None);
        assert_eq!(tenant_from_host("localhost:3210", None), None);
    }
}
