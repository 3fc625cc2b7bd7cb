//! What the page hands out and reads back: invite links (`/r/{room}?invite={code}`, read on
//! load and passed as the join's `invite`), and the ready `curl` line for a new bot. Pure,
//! tested natively.

/// The query parameter an invite link carries its code in.
pub const INVITE_PARAM: &str = "invite";

/// The longest invite code a join may carry (as the room checks it).
const CODE_MAX: usize = 64;

/// The link that lets someone into an invite-only room.
pub fn invite_link(origin: &str, room: &str, code: &str) -> String {
    format!("{origin}/r/{room}?{INVITE_PARAM}={}", encode(code))
}

/// The invite code in a location's query (`?invite=…`, the address's `search`), if it holds a
/// plausible one.
pub fn invite_from_search(search: &str) -> Option<String> {
    let query = search.strip_prefix('?').unwrap_or(search);
    let value = query.split('&').find_map(|pair| pair.strip_prefix(INVITE_PARAM)?.strip_prefix('='))?;
    let code = decode(value)?;
    let plausible = !code.is_empty() && code.len() <= CODE_MAX && !code.chars().any(char::is_control);
    plausible.then_some(code)
}

/// The invite code in what someone pasted: an invite link (any origin), or a bare code.
pub fn invite_from_pasted(text: &str) -> Option<String> {
    let text = text.trim();
    match text.find('?') {
        Some(q) => invite_from_search(text[q..].split('#').next().unwrap_or_default()),
        None if !text.contains(['/', ' ', '#']) => invite_from_search(&format!("?{INVITE_PARAM}={text}")),
        None => None,
    }
}

/// The query without its invite (`""` if nothing else is left): once joined the person is a
/// member, and the address bar should not hand the code on.
pub fn without_invite(search: &str) -> String {
    let query = search.strip_prefix('?').unwrap_or(search);
    let rest: Vec<&str> =
        query.split('&').filter(|pair| !pair.is_empty() && pair.split('=').next() != Some(INVITE_PARAM)).collect();
    if rest.is_empty() {
        String::new()
    } else {
        format!("?{}", rest.join("&"))
    }
}

/// A `curl` line that posts as a bot, ready to paste.
pub fn curl_example(origin: &str, room: &str, token: &str) -> String {
    format!(
        "curl -X POST '{origin}/api/rooms/{room}/messages' \\\n  -H 'Authorization: Bearer {token}' \\\n  \
         -H 'Content-Type: application/json' \\\n  -d '{{\"text\": \"Hello from a bot\"}}'"
    )
}

/// Percent-encodes everything but the characters a URL leaves alone.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Undoes [`encode`] (and a form's `+`); `None` if it is not valid UTF-8 once decoded.
fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invite_link_is_read_back_on_load() {
        let link = invite_link("https://confab.test", "lobby", "Ab3_x-9");
        assert_eq!(link, "https://confab.test/r/lobby?invite=Ab3_x-9");
        let search = &link[link.find('?').expect("a query")..];
        assert_eq!(invite_from_search(search).as_deref(), Some("Ab3_x-9"));
        // Codes with other characters survive the trip.
        let odd = invite_link("", "lobby", "a b/c+d");
        assert_eq!(invite_from_search(&odd[odd.find('?').expect("a query")..]).as_deref(), Some("a b/c+d"));
    }

    #[test]
    fn only_a_plausible_code_is_taken() {
        assert_eq!(invite_from_search("?x=1&invite=k9&y=2").as_deref(), Some("k9"));
        assert_eq!(invite_from_search("invite=k9").as_deref(), Some("k9"));
        assert_eq!(invite_from_search("?invite=a+b%2Bc").as_deref(), Some("a b+c"), "as URLSearchParams reads it");
        for bad in
            ["", "?", "?invite=", "?invites=k9", "?invite=%zz", "?invite=%0A", &format!("?invite={}", "a".repeat(65))]
        {
            assert_eq!(invite_from_search(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_pasted_link_or_code_gives_the_code() {
        assert_eq!(invite_from_pasted(" https://c.test/r/lobby?invite=k9#m3 ").as_deref(), Some("k9"));
        assert_eq!(invite_from_pasted("k9").as_deref(), Some("k9"));
        assert_eq!(invite_from_pasted("https://c.test/r/lobby"), None);
        assert_eq!(invite_from_pasted(""), None);
    }

    #[test]
    fn the_address_bar_loses_the_code_once_joined() {
        assert_eq!(without_invite("?invite=k9"), "");
        assert_eq!(without_invite("?x=1&invite=k9&y=2"), "?x=1&y=2");
        assert_eq!(without_invite(""), "");
    }

    #[test]
    fn the_curl_example_posts_to_the_rooms_messages_with_the_token() {
        let c = curl_example("https://confab.test", "lobby", "tok123");
        assert!(c.contains("'https://confab.test/api/rooms/lobby/messages'"), "{c}");
        assert!(c.contains("-H 'Authorization: Bearer tok123'"), "{c}");
        assert!(c.contains(r#"-d '{"text": "Hello from a bot"}'"#), "{c}");
    }
}
