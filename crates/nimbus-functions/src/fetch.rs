//! Outbound `fetch` for actions, behind each tenant's [`FetchPolicy`].
//!
//! Hosts are matched against the policy's allow and deny lists, then *every address the host
//! resolves to* is checked before connecting (a custom resolver), so a public name that
//! resolves to 127.0.0.1 or a private network is refused unless the policy allows it.
//! Response bodies are read up to a named bound.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use nimbus_runtime::{FetchRequest, HostError};
use parking_lot::{Mutex, RwLock};
use serde_json::json;

/// Default bound on a fetched response body.
pub const FETCH_RESPONSE_BYTES_MAX_DEFAULT: usize = 16 * 1024 * 1024;
/// Default time limit for one fetch (the action's own deadline also applies).
pub const FETCH_TIMEOUT_DEFAULT: Duration = Duration::from_secs(60);

/// Where a tenant's actions may connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPolicy {
    /// Host patterns allowed (`api.example.com`, `*.example.com`); empty means any public host.
    pub allow_hosts: Vec<String>,
    /// Host patterns always refused.
    pub deny_hosts: Vec<String>,
    /// Whether loopback addresses (127.0.0.0/8, ::1) may be reached.
    pub allow_loopback: bool,
    /// Whether private, link-local and unspecified addresses may be reached.
    pub allow_private: bool,
    /// Bound on response bodies.
    pub response_bytes_max: usize,
    /// Time limit per request.
    pub timeout: Duration,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self {
            allow_hosts: Vec::new(),
            deny_hosts: Vec::new(),
            allow_loopback: false,
            allow_private: false,
            response_bytes_max: FETCH_RESPONSE_BYTES_MAX_DEFAULT,
            timeout: FETCH_TIMEOUT_DEFAULT,
        }
    }
}

fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => {
            host.len() > suffix.len()
                && host.ends_with(suffix)
                && host[..host.len() - suffix.len()].ends_with('.')
        }
        None => pattern.eq_ignore_ascii_case(host),
    }
}

impl FetchPolicy {
    fn check_host(&self, host: &str) -> Result<(), String> {
        if self.deny_hosts.iter().any(|p| host_matches(p, host)) {
            return Err(format!(
                "fetch to {host} is denied by this deployment's network policy"
            ));
        }
        if !self.allow_hosts.is_empty() && !self.allow_hosts.iter().any(|p| host_matches(p, host)) {
            return Err(format!(
                "fetch to {host} is not in this deployment's list of allowed hosts"
            ));
        }
        Ok(())
    }

    fn check_ip(&self, ip: IpAddr) -> Result<(), String> {
        let loopback = ip.is_loopback();
        let private = match ip {
            IpAddr::V4(v4) => {
                v4.is_private() || v4.is_link_local() || v4.is_unspecified() || v4.is_broadcast()
            }
            IpAddr::V6(v6) => {
                v6.is_unspecified()
                    || (v6.segments()[0] & 0xfe00) == 0xfc00
                    || (v6.segments()[0] & 0xffc0) == 0xfe80
            }
        };
        if loopback && !self.allow_loopback {
            return Err(format!("fetch to the loopback address {ip} is not allowed"));
        }
        if private && !self.allow_private {
            return Err(format!("fetch to the private address {ip} is not allowed"));
        }
        Ok(())
    }
}

/// Resolves names and drops addresses the policy forbids.
struct PolicyResolver {
    policy: FetchPolicy,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = addresses
                .into_iter()
                .filter(|a| match policy.check_ip(a.ip()) {
                    Ok(()) => true,
                    Err(why) => {
                        refused = Some(why);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let why = refused.unwrap_or_else(|| format!("{host} did not resolve"));
                return Err(why.into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Performs fetches for every tenant, each under its own policy.
pub struct Fetcher {
    default_policy: FetchPolicy,
    policies: RwLock<HashMap<String, FetchPolicy>>,
    clients: Mutex<HashMap<String, (FetchPolicy, reqwest::Client)>>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("default_policy", &self.default_policy)
            .finish()
    }
}

impl Fetcher {
    /// A fetcher using `default_policy` for tenants without their own.
    pub fn new(default_policy: FetchPolicy) -> Self {
        Self {
            default_policy,
            policies: RwLock::new(HashMap::new()),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Sets one tenant's policy.
    pub fn set_policy(&self, tenant: &str, policy: FetchPolicy) {
        self.policies.write().insert(tenant.to_owned(), policy);
    }

    fn policy(&self, tenant: &str) -> FetchPolicy {
        self.policies
            .read()
            .get(tenant)
            .cloned()
            .unwrap_or_else(|| self.default_policy.clone())
    }

    fn client(&self, tenant: &str, policy: &FetchPolicy) -> Result<reqwest::Client, HostError> {
        let mut clients = self.clients.lock();
        if let Some((cached_policy, client)) = clients.get(tenant)
            && cached_policy == policy
        {
            return Ok(client.clone());
        }
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(PolicyResolver {
                policy: policy.clone(),
            }))
            .timeout(policy.timeout)
            .redirect(reqwest::redirect::Policy::limited(10))
            .build()
            .map_err(|e| HostError::new(format!("fetch client could not start: {e}")))?;
        clients.insert(tenant.to_owned(), (policy.clone(), client.clone()));
        Ok(client)
    }

    /// Performs one request; answers with the JSON the runtime's `fetch` expects.
    pub async fn fetch(&self, tenant: &str, request: FetchRequest) -> Result<String, HostError> {
        let policy = self.policy(tenant);
        let url = reqwest::Url::parse(&request.url)
            .map_err(|e| HostError::new(format!("fetch: invalid URL {}: {e}", request.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(HostError::new(format!(
                "fetch: unsupported scheme {}",
                url.scheme()
            )));
        }
        let host = url
            .host_str()
            .ok_or_else(|| HostError::new("fetch: the URL has no host"))?;
        policy.check_host(host).map_err(HostError::new)?;
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            policy.check_ip(ip).map_err(HostError::new)?;
        }
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| HostError::new(format!("fetch: invalid method {}", request.method)))?;
        let client = self.client(tenant, &policy)?;
        let mut builder = client.request(method, url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let mut response = builder
            .send()
            .await
            .map_err(|e| HostError::new(format!("fetch failed: {}", error_chain(&e))))?;
        let status = response.status();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let final_url = response.url().to_string();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| HostError::new(format!("fetch: reading the body failed: {e}")))?
        {
            if body.len() + chunk.len() > policy.response_bytes_max {
                return Err(HostError::new(format!(
                    "fetch: the response body exceeds the {} byte limit",
                    policy.response_bytes_max
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(json!({
            "status": status.as_u16(),
            "statusText": status.canonical_reason().unwrap_or(""),
            "headers": headers,
            "bodyBase64": STANDARD.encode(body),
            "url": final_url,
        })
        .to_string())
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns_and_address_classes() {
        assert!(host_matches("*.example.com", "api.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(!host_matches("*.example.com", "badexample.com"));
        let policy = FetchPolicy {
            deny_hosts: vec!["evil.com".into()],
            ..FetchPolicy::default()
        };
        assert!(policy.check_host("evil.com").is_err());
        assert!(policy.check_ip("127.0.0.1".parse().unwrap()).is_err());
        assert!(policy.check_ip("10.1.2.3".parse().unwrap()).is_err());
        assert!(policy.check_ip("93.184.216.34".parse().unwrap()).is_ok());
        let open = FetchPolicy {
            allow_loopback: true,
            ..FetchPolicy::default()
        };
        assert!(open.check_ip("::1".parse().unwrap()).is_ok());
        let listed = FetchPolicy {
            allow_hosts: vec!["api.example.com".into()],
            ..FetchPolicy::default()
        };
        assert!(listed.check_host("other.com").is_err());
    }
}
