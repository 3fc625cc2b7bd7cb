//! Outgoing webhooks, the pure parts: which URLs a bot may register, how a delivery is
//! signed, what an answer means, and when a failed delivery is tried again. The glue
//! (`durable.rs`) does the fetching, from the room's alarm: never on the message path.

use confab_shared::{ErrorCode, ProtocolError};
use sha2::{Digest, Sha256};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How long a receiver has to answer.
pub const TIMEOUT_MS: u64 = 7_000;

/// Waits before each retry, in ms: a delivery is tried at most `1 + RETRIES_MS.len()` times.
pub const RETRIES_MS: [u64; 5] = [1_000, 5_000, 30_000, 120_000, 600_000];

/// Deliveries a room keeps queued at most (older ones are dropped first when it is full).
pub const QUEUE_MAX: u32 = 1_000;

/// The most of a webhook's answer that is read (the reply it posts is then cut to a message's
/// 4000 characters).
pub const REPLY_MAX_BYTES: usize = 16 * 1024;

/// Checks a webhook URL: `http` or `https`, a host, no credentials, and (unless
/// `allow_private`, a development setting) no loopback, private, link-local or otherwise
/// internal address, written as an address or as a name that means one (`localhost`,
/// `*.local`, `*.internal`). Returns the URL as given.
pub fn check_url(url: &str, allow_private: bool) -> Result<String, ProtocolError> {
    let refuse = |why: &str| Err(ProtocolError::new(ErrorCode::InvalidUrl, format!("{why}: {url}")));
    if url.len() > 2048 {
        return refuse("a webhook URL has at most 2048 bytes");
    }
    // Only what every URL parser reads the same way: printable ASCII, no backslash (which
    // `fetch`'s parser takes for a slash) and no percent-escape or non-ASCII character in the
    // host (which it decodes or maps to ASCII). Anything else could name one host here and
    // another to `fetch`. An internationalised name is written in its `xn--` form.
    if !url.chars().all(|c| c.is_ascii_graphic()) || url.contains('\\') {
        return refuse("a webhook URL is printable ASCII without backslashes");
    }
    let rest = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http") => rest,
        _ => return refuse("a webhook URL is http:// or https://"),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return refuse("a webhook URL carries no credentials");
    }
    if authority.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return refuse("not a URL");
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default().to_owned(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h).to_owned(),
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() {
        return refuse("a webhook URL names a host");
    }
    let bracketed = authority.starts_with('[');
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
    if !(bracketed && host.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') || host.chars().all(plain)) {
        return refuse("a webhook URL's host is a name of letters, digits, dots and hyphens, or an address");
    }
    if allow_private {
        return Ok(url.to_owned());
    }
    let internal_name = host == "localhost"
        || [".localhost", ".local", ".internal", ".home.arpa", ".lan"].iter().any(|s| host.ends_with(s));
    let internal_address = match host.parse::<IpAddr>() {
        Ok(ip) => !is_public(ip),
        Err(_) => looks_numeric(&host),
    };
    if internal_name || internal_address {
        return refuse("a webhook URL must point at a public address");
    }
    Ok(url.to_owned())
}

/// A host made only of numbers (`2130706433`, `0x7f.1`, `127.1`): forms of an IPv4 address
/// that resolvers accept and the address parser does not, refused outright.
fn looks_numeric(host: &str) -> bool {
    host.split('.').all(|p| {
        !p.is_empty()
            && (p.chars().all(|c| c.is_ascii_digit())
                || p.strip_prefix("0x").is_some_and(|h| h.chars().all(|c| c.is_ascii_hexdigit())))
    })
}

/// Whether an address is reachable on the public internet (not loopback, private, link-local,
/// shared, documentation, multicast or unspecified; IPv4-mapped addresses judged as IPv4).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments, 192.0.0.0/24
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let [first, second, ..] = ip.segments();
    // Forms that carry an IPv4 address (and so can reach a private one): IPv4-compatible
    // (::a.b.c.d), NAT64 (64:ff9b::/96), 6to4 (2002::/16), Teredo (2001::/32).
    let embeds_v4 = ip.segments().iter().take(6).all(|s| *s == 0) || first == 0x64 || first == 0x2002;
    let teredo = first == 0x2001 && second == 0;
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || embeds_v4
        || teredo
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated, still routed inside some networks)
        || first == 0x2001 && second == 0xdb8)
}

/// The signature header's value: `sha256=` and the hex HMAC-SHA256 of `body` keyed with
/// `secret` (RFC 2104).
pub fn sign(secret: &str, body: &[u8]) -> String {
    const BLOCK: usize = 64;
    let hashed;
    let bytes: &[u8] = if secret.len() > BLOCK {
        hashed = Sha256::digest(secret.as_bytes());
        &hashed
    } else {
        secret.as_bytes()
    };
    let mut key = [0u8; BLOCK];
    for (k, b) in key.iter_mut().zip(bytes) {
        *k = *b;
    }
    let pad = |byte: u8| key.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(body).finalize();
    let outer = Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize();
    format!("sha256={}", outer.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// What a receiver's answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Delivered. A `200` with a `text/plain` body (not only white space) is posted as the
    /// bot, replying to the message.
    Delivered(Option<String>),
    /// Try again later (a timeout, a network error, a 5xx, a 429, a redirect: never followed).
    Retry,
    /// The receiver refused it for good (another 4xx): drop it.
    Refused,
}

/// Reads a receiver's answer (`None`: no answer in time, or the fetch failed).
pub fn answer(status: Option<u16>, content_type: Option<&str>, body: &str) -> Answer {
    let Some(status) = status else { return Answer::Retry };
    match status {
        200..=299 => {
            let text = content_type.is_some_and(|c| c.trim_start().to_ascii_lowercase().starts_with("text/plain"));
            let max = confab_shared::limits::TEXT_MAX_CHARS;
            let reply = (status == 200 && text && !body.trim().is_empty())
                .then(|| body.chars().take(max).collect::<String>().trim_end().to_owned());
            Answer::Delivered(reply)
        }
        408 | 429 | 300..=399 | 500..=599 => Answer::Retry,
        _ => Answer::Refused,
    }
}

/// When to try again after `attempts` tries, if at all.
pub fn retry_in(attempts: u32) -> Option<u64> {
    RETRIES_MS.get(attempts.saturating_sub(1) as usize).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        for ok in [
            "https://example.com/hook",
            "http://hooks.example.org:8080/x?y=1",
            "https://8.8.8.8/h",
            "https://192.0.2.0.example/",
            "https://[2606:4700::1111]/",
            "https://192.0.64.1/",
        ] {
            assert_eq!(check_url(ok, false).as_deref(), Ok(ok), "{ok}");
        }
        for bad in [
            "ftp://example.com/",
            "example.com",
            "https://localhost/x",
            "https://foo.localhost/x",
            "http://127.0.0.1:9000/",
            "http://10.1.2.3/",
            "http://192.168.1.1/",
            "http://172.16.0.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://[::1]/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[64:ff9b::7f00:1]/",
            "http://[::7f00:1]/",
            "http://[2002:7f00:1::]/",
            "http://[2001:0:4136:e378::1]/",
            "http://[fec0::1]/",
            "http://192.0.0.170/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://127.1/",
            "https://user:pass@example.com/",
            "https://printer.local/",
            "https://db.internal/",
            "https:///path",
            "http://127.0.0.1\\.example.com/hook",
            "http://%31%32%37.0.0.1/",
            "http://１２７．０．０．１/",
            "http://exa mple.com/",
            "http://ex%41mple.com/",
            "http://[::1%25eth0]/",
        ] {
            assert_eq!(check_url(bad, false).unwrap_err().code, ErrorCode::InvalidUrl, "{bad}");
        }
        assert!(check_url("http://127.0.0.1:9000/hook", true).is_ok(), "the development setting allows loopback");
        assert!(check_url("ftp://127.0.0.1/", true).is_err(), "but only http(s)");
    }

    #[test]
    fn signatures_are_rfc_4231_hmacs() {
        // RFC 4231, test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // A key longer than the block is hashed first (RFC 2104), so it differs from its prefix.
        let long = "k".repeat(100);
        assert_ne!(sign(&long, b"x"), sign(&long[..64], b"x"));
        assert_ne!(sign("a", b"x"), sign("b", b"x"));
    }

    #[test]
    fn answers_and_retries() {
        assert_eq!(
            answer(Some(200), Some("text/plain; charset=utf-8"), "pong\n"),
            Answer::Delivered(Some("pong".into()))
        );
        assert_eq!(answer(Some(200), Some("application/json"), "{}"), Answer::Delivered(None));
        assert_eq!(answer(Some(204), None, ""), Answer::Delivered(None));
        assert_eq!(answer(Some(200), Some("text/plain"), "  "), Answer::Delivered(None));
        assert_eq!(answer(None, None, ""), Answer::Retry);
        assert_eq!(answer(Some(503), None, ""), Answer::Retry);
        assert_eq!(answer(Some(302), None, ""), Answer::Retry, "redirects are never followed");
        assert_eq!(answer(Some(404), None, ""), Answer::Refused);
        let long = "é".repeat(REPLY_MAX_BYTES);
        let Answer::Delivered(Some(cut)) = answer(Some(200), Some("text/plain"), &long) else { panic!() };
        assert_eq!(cut.chars().count(), confab_shared::limits::TEXT_MAX_CHARS, "cut to a message's length, posted");
        assert_eq!((retry_in(1), retry_in(5), retry_in(6)), (Some(1_000), Some(600_000), None));
    }
}
