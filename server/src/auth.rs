//! Who may watch and who may change cameras: tokens, rights, and a brake on guessing.
//!
//! Two optional secrets. `--token` guards everything except the static web client;
//! `--admin-token` guards changing camera settings and device controls. With only `--token`,
//! its holder may do both (one person, one secret). With only `--admin-token`, anyone may
//! watch but only its holder may change things. With neither, the server is open.
//!
//! A token is accepted as `Authorization: Bearer T`, as the password (or, with no password,
//! the user name) of HTTP Basic for tools that only speak that, or as `?token=T` for `<img>`
//! URLs and the WebSocket upgrade, which browsers cannot give headers. Comparison takes the
//! same time wherever the first differing byte is. Failed attempts are counted per address
//! ([`FailedAttempts`]); an address over the limit is refused for a while even with the right
//! token, so guessing online is hopeless. Requests without any token are refused but not
//! counted: they are not guesses.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::lock::Unpoisoned;
use axum::http::{HeaderMap, header};

/// What a request may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Watch streams and snapshots, read the state.
    Viewer,
    /// Also change camera settings and device controls.
    Admin,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token, or a wrong one.
    #[error("a valid token is required")]
    Unauthorized {
        /// Whether the request presented any credentials (decides which challenge to send).
        presented: bool,
    },
    /// This address failed too often; wait.
    #[error("too many failed attempts from this address; retry in {} s", retry_after.as_secs().max(1))]
    TooManyAttempts {
        /// How long until attempts are accepted again.
        retry_after: Duration,
    },
}

/// The configured secrets and the failed-attempt counter.
#[derive(Debug, Clone)]
pub struct Auth {
    viewer: Option<Arc<str>>,
    admin: Option<Arc<str>>,
    failures: Arc<FailedAttempts>,
}

impl Auth {
    /// Rights from `--token` and `--admin-token` (empty strings count as unset).
    pub fn new(viewer: Option<&str>, admin: Option<&str>) -> Auth {
        let secret = |t: Option<&str>| t.filter(|t| !t.is_empty()).map(Arc::from);
        Auth {
            viewer: secret(viewer),
            admin: secret(admin),
            failures: Arc::new(FailedAttempts::new(MAX_FAILURES, FAILURE_WINDOW)),
        }
    }

    /// An open server: no tokens at all.
    pub fn open() -> Auth {
        Auth::new(None, None)
    }

    /// Whether watching needs a token.
    pub fn viewing_needs_token(&self) -> bool {
        self.viewer.is_some()
    }

    /// The rights of a request from `peer` presenting `headers` and `query`. `None` as peer
    /// (requests not from a socket, in tests) skips the failed-attempt brake.
    pub fn check(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
        peer: Option<IpAddr>,
    ) -> Result<Access, AuthError> {
        let now = Instant::now();
        if let Some(ip) = peer
            && let Some(retry_after) = self.failures.blocked(ip, now)
        {
            return Err(AuthError::TooManyAttempts { retry_after });
        }
        let presented = presented_token(headers, query);
        let result = self.access_for(presented.as_deref());
        // Only a wrong token is a guess; a request with none (a first visit, an `<img>`
        // before the token is known) is not.
        if result.is_err()
            && presented.is_some()
            && let Some(ip) = peer
        {
            self.failures.record(ip, now);
        }
        result
    }

    /// Counts a failed attempt made elsewhere (the push endpoints' own token).
    pub fn record_failure(&self, peer: IpAddr) {
        self.failures.record(peer, Instant::now());
    }

    /// Whether `peer` is currently refused for failing too often.
    pub fn blocked(&self, peer: IpAddr) -> Option<Duration> {
        self.failures.blocked(peer, Instant::now())
    }

    fn access_for(&self, presented: Option<&str>) -> Result<Access, AuthError> {
        let matches = |secret: &Option<Arc<str>>| matches!((presented, secret), (Some(p), Some(s)) if token_matches(p.as_bytes(), s.as_bytes()));
        if matches(&self.admin) {
            return Ok(Access::Admin);
        }
        if matches(&self.viewer) {
            // The only secret there is grants everything.
            return Ok(if self.admin.is_none() { Access::Admin } else { Access::Viewer });
        }
        match (&self.viewer, &self.admin, presented) {
            (None, None, _) => Ok(Access::Admin),
            // Watching is open; a wrong token is still a failed attempt.
            (None, Some(_), None) => Ok(Access::Viewer),
            (_, _, presented) => Err(AuthError::Unauthorized { presented: presented.is_some() }),
        }
    }
}

/// Which web pages may open WebSockets: the server's own, and the `--allow-origin` list. A
/// browser sends `Origin` with every WebSocket upgrade; without this check any site a viewer
/// visits could open the camera through the viewer's browser (and its remembered token).
/// Clients that are not browsers send no `Origin` and are not affected.
#[derive(Debug, Clone, Default)]
pub struct OriginPolicy {
    allowed: Arc<[String]>,
}

impl OriginPolicy {
    /// Allows the server's own origin plus `allowed` (lower-case `scheme://host[:port]`, or `*`).
    pub fn new(allowed: &[String]) -> OriginPolicy {
        OriginPolicy { allowed: allowed.iter().map(|o| o.to_ascii_lowercase()).collect() }
    }

    /// Whether an upgrade with these headers may proceed.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else { return true };
        let Ok(origin) = origin.to_str() else { return false };
        let origin = origin.trim().to_ascii_lowercase();
        if self.allowed.iter().any(|a| a == "*" || *a == origin) {
            return true;
        }
        // Same origin: the page was loaded from this very host and port. Compared on the
        // authority, so http and https (behind a TLS proxy) both count as own. A proxy in
        // front (`trunk serve`, nginx) may put its own host in `X-Forwarded-Host`; trusting it
        // is safe here, as a page's script cannot add headers to a WebSocket upgrade.
        let Some((scheme, authority)) = origin.split_once("://") else { return false };
        let forwarded = headers.get("x-forwarded-host").and_then(|h| h.to_str().ok());
        let own = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        [own, forwarded.and_then(|f| f.split(',').next())].into_iter().flatten().any(|host| {
            let host = host.trim().to_ascii_lowercase();
            authority == host || authority == default_port_stripped(scheme, &host)
        })
    }
}

/// `host:80` for http (`:443` for https) as browsers write it in `Origin`: without the port.
fn default_port_stripped<'a>(scheme: &str, host: &'a str) -> &'a str {
    let default = if scheme == "https" { ":443" } else { ":80" };
    host.strip_suffix(default).unwrap_or(host)
}

/// Compares two secrets in time that depends only on their lengths.
pub fn token_matches(presented: &[u8], expected: &[u8]) -> bool {
    if presented.len() != expected.len() {
        return false;
    }
    presented.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// The token a request presents, from the header or the query string.
fn presented_token(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let value = value.trim();
        if let Some(bearer) = strip_prefix_ignore_case(value, "Bearer ") {
            return Some(bearer.trim().to_string());
        }
        if let Some(basic) = strip_prefix_ignore_case(value, "Basic ") {
            return basic_secret(basic.trim());
        }
        return Some(String::new());
    }
    query
        .and_then(|q| {
            q.split('&').find_map(|pair| {
                let value = pair.strip_prefix("token=")?;
                Some(percent_decode(value))
            })
        })
        // `?token=` with nothing is no token (a client that has none yet).
        .filter(|t| !t.is_empty())
}

fn strip_prefix_ignore_case<'a>(value: &'a str, prefix: &str) -> Option<&'a str> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &value[prefix.len()..])
}

/// The secret in HTTP Basic credentials: the password, or the user name when the password is
/// empty (tools differ in which field they offer).
fn basic_secret(encoded: &str) -> Option<String> {
    let decoded = base64_decode(encoded)?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':').unwrap_or((&text, ""));
    Some(if password.is_empty() { user } else { password }.to_string())
}

/// Standard base64, with or without padding (clients differ).
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// Credentials longer than this are not decoded at all.
const MAX_CREDENTIALS: usize = 1024;

fn base64_decode(input: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    if input.len() > MAX_CREDENTIALS {
        return None;
    }
    BASE64.decode(input).ok()
}

/// `%XX` and `+` decoding of one query value; invalid escapes stay as they are.
fn percent_decode(value: &str) -> String {
    percent_encoding::percent_decode_str(&value.replace('+', " ")).decode_utf8_lossy().into_owned()
}

/// Failed attempts allowed per address within [`FAILURE_WINDOW`].
pub const MAX_FAILURES: u32 = 10;
/// The window failures are counted in; an address over the limit waits until it ends.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at most; beyond it only addresses already tracked are limited.
const MAX_TRACKED: usize = 16 * 1024;

/// Failed authentication attempts per address (IPv6 per /64, what one host usually owns).
#[derive(Debug)]
pub struct FailedAttempts {
    max: u32,
    window: Duration,
    by_address: Mutex<HashMap<IpAddr, Failures>>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
}

impl FailedAttempts {
    /// Allows `max` failures per `window` per address.
    pub fn new(max: u32, window: Duration) -> FailedAttempts {
        FailedAttempts { max, window, by_address: Mutex::new(HashMap::new()) }
    }

    /// Counts one failure of `ip` at `now`.
    pub fn record(&self, ip: IpAddr, now: Instant) {
        let key = address_key(ip);
        let mut map = self.by_address.locked();
        if map.len() >= MAX_TRACKED && !map.contains_key(&key) {
            map.retain(|_, f| now.duration_since(f.since) < self.window);
            if map.len() >= MAX_TRACKED {
                return;
            }
        }
        let entry = map.entry(key).or_insert(Failures { count: 0, since: now });
        if now.duration_since(entry.since) >= self.window {
            *entry = Failures { count: 0, since: now };
        }
        entry.count = entry.count.saturating_add(1);
    }

    /// How long `ip` must still wait, if it failed `max` times in the current window.
    pub fn blocked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let map = self.by_address.locked();
        let failures = map.get(&address_key(ip))?;
        let elapsed = now.duration_since(failures.since);
        (failures.count >= self.max && elapsed < self.window).then(|| self.window - elapsed)
    }
}

fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(authorization: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(authorization).unwrap());
        h
    }

    fn access(auth: &Auth, h: &HeaderMap, query: Option<&str>) -> Result<Access, AuthError> {
        auth.check(h, query, None)
    }

    #[test]
    fn an_open_server_gives_everyone_admin() {
        assert_eq!(access(&Auth::open(), &HeaderMap::new(), None), Ok(Access::Admin));
        assert_eq!(access(&Auth::open(), &headers("Bearer whatever"), None), Ok(Access::Admin));
    }

    #[test]
    fn one_token_guards_everything_and_grants_everything() {
        let auth = Auth::new(Some("s3cret-token"), None);
        let none = HeaderMap::new();
        assert_eq!(access(&auth, &none, None), Err(AuthError::Unauthorized { presented: false }));
        assert_eq!(
            access(&auth, &headers("Bearer nope"), None),
            Err(AuthError::Unauthorized { presented: true })
        );
        assert_eq!(access(&auth, &headers("Bearer s3cret-token"), None), Ok(Access::Admin));
        assert_eq!(access(&auth, &headers("bearer  s3cret-token "), None), Ok(Access::Admin));
        assert_eq!(access(&auth, &none, Some("camera=a&token=s3cret-token")), Ok(Access::Admin));
        assert_eq!(access(&auth, &none, Some("token=s3cret%2Dtoken")), Ok(Access::Admin));
        assert!(access(&auth, &none, Some("xtoken=s3cret-token")).is_err());
        // Basic: "user:s3cret-token" and "s3cret-token:".
        assert_eq!(access(&auth, &headers("Basic dXNlcjpzM2NyZXQtdG9rZW4="), None), Ok(Access::Admin));
        assert_eq!(access(&auth, &headers("Basic czNjcmV0LXRva2VuOg=="), None), Ok(Access::Admin));
        assert!(access(&auth, &headers("Basic !!!"), None).is_err());
        // A header wins over the query: a wrong header is not rescued by a right query.
        assert!(access(&auth, &headers("Bearer nope"), Some("token=s3cret-token")).is_err());
    }

    #[test]
    fn viewer_and_admin_tokens_grant_different_rights() {
        let auth = Auth::new(Some("view"), Some("adm"));
        assert_eq!(access(&auth, &headers("Bearer view"), None), Ok(Access::Viewer));
        assert_eq!(access(&auth, &headers("Bearer adm"), None), Ok(Access::Admin));
        assert!(access(&auth, &HeaderMap::new(), None).is_err());
        let open_viewing = Auth::new(None, Some("adm"));
        assert_eq!(access(&open_viewing, &HeaderMap::new(), None), Ok(Access::Viewer));
        assert_eq!(access(&open_viewing, &headers("Bearer adm"), None), Ok(Access::Admin));
        assert!(access(&open_viewing, &headers("Bearer wrong"), None).is_err());
    }

    #[test]
    fn origins_are_the_servers_own_or_listed() {
        let with = |origin: Option<&str>, host: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
            if let Some(o) = origin {
                h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
            }
            h
        };
        let policy = OriginPolicy::new(&["https://octopi.local".to_string()]);
        assert!(policy.allows(&with(None, "cam:8080")), "no Origin: not a browser");
        assert!(policy.allows(&with(Some("http://cam:8080"), "cam:8080")));
        assert!(policy.allows(&with(Some("http://CAM:8080"), "cam:8080")));
        assert!(policy.allows(&with(Some("http://cam"), "cam:80")));
        assert!(policy.allows(&with(Some("https://octopi.local"), "cam:8080")));
        assert!(!policy.allows(&with(Some("https://evil.example"), "cam:8080")));
        assert!(!policy.allows(&with(Some("http://cam:8081"), "cam:8080")));
        assert!(!policy.allows(&with(Some("null"), "cam:8080")));
        assert!(OriginPolicy::new(&["*".to_string()]).allows(&with(Some("https://evil.example"), "cam")));
        // Behind a proxy that names the public host in X-Forwarded-Host.
        let mut proxied = with(Some("http://localhost:8081"), "127.0.0.1:8080");
        assert!(!policy.allows(&proxied));
        proxied.insert("x-forwarded-host", HeaderValue::from_static("localhost:8081"));
        assert!(policy.allows(&proxied));
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(token_matches(b"secret", b"secret"));
        assert!(!token_matches(b"secreT", b"secret"));
        assert!(!token_matches(b"secret-longer", b"secret"));
        assert!(!token_matches(b"", b"secret"));
    }

    #[test]
    fn base64_and_percent_decoding() {
        assert_eq!(base64_decode("YWJj").unwrap(), b"abc");
        assert_eq!(base64_decode("YWI=").unwrap(), b"ab");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert!(base64_decode("Y").is_none());
        assert_eq!(percent_decode("a%20b+c%zz%4"), "a b c%zz%4");
    }

    #[test]
    fn an_address_that_keeps_failing_waits_out_the_window() {
        let limiter = FailedAttempts::new(3, Duration::from_secs(60));
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..2 {
            limiter.record(ip, t0);
        }
        assert_eq!(limiter.blocked(ip, t0), None);
        limiter.record(ip, t0);
        assert_eq!(limiter.blocked(ip, t0 + Duration::from_secs(20)), Some(Duration::from_secs(40)));
        assert_eq!(limiter.blocked(other, t0), None);
        assert_eq!(limiter.blocked(ip, t0 + Duration::from_secs(60)), None);
        // A new window starts from zero.
        limiter.record(ip, t0 + Duration::from_secs(61));
        assert_eq!(limiter.blocked(ip, t0 + Duration::from_secs(61)), None);
    }

    #[test]
    fn ipv6_hosts_are_limited_per_64() {
        let limiter = FailedAttempts::new(1, Duration::from_secs(60));
        let t0 = Instant::now();
        limiter.record("2001:db8:1:2::1".parse().unwrap(), t0);
        assert!(limiter.blocked("2001:db8:1:2:ffff::9".parse().unwrap(), t0).is_some());
        assert!(limiter.blocked("2001:db8:1:3::1".parse().unwrap(), t0).is_none());
        limiter.record("::ffff:192.0.2.1".parse().unwrap(), t0);
        assert!(limiter.blocked("192.0.2.1".parse().unwrap(), t0).is_some());
    }

    #[test]
    fn the_brake_refuses_even_the_right_token() {
        let auth = Auth::new(Some("right"), None);
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            assert!(auth.check(&headers("Bearer wrong"), None, Some(ip)).is_err());
        }
        assert!(matches!(
            auth.check(&headers("Bearer right"), None, Some(ip)),
            Err(AuthError::TooManyAttempts { .. })
        ));
        assert_eq!(
            auth.check(&headers("Bearer right"), None, Some("192.0.2.10".parse().unwrap())),
            Ok(Access::Admin)
        );
        // Asking without a token is refused but is no guess.
        let other: IpAddr = "192.0.2.11".parse().unwrap();
        for _ in 0..MAX_FAILURES * 2 {
            assert!(auth.check(&HeaderMap::new(), None, Some(other)).is_err());
        }
        assert_eq!(auth.check(&headers("Bearer right"), None, Some(other)), Ok(Access::Admin));
    }
}
