//! Your identity on another device (issue 11). A person is the browser's key; another device
//! becomes the same person by opening `{origin}/#me={key}`. The key travels in the fragment,
//! which browsers never send to a server (nor put in a `Referer`), and the page takes it out
//! of the address bar as soon as it has stored it. The page shows the link as text and as a
//! QR code ([`qr_svg`]) with the warning that whoever holds it *is* you, in every room.

use confab_shared::MemberKey;
use qrcodegen::{QrCode, QrCodeEcc};

/// What starts the fragment of a device link.
pub const FRAGMENT: &str = "#me=";

/// The link that makes another device `key`'s person.
pub fn link(origin: &str, key: &MemberKey) -> String {
    format!("{origin}/{FRAGMENT}{}", key.as_str())
}

/// The key a device link's fragment (`location.hash`) carries, if it is one and valid.
pub fn key_from_hash(hash: &str) -> Option<MemberKey> {
    MemberKey::parse(hash.strip_prefix(FRAGMENT)?).ok()
}

/// Quiet zone around the code, in modules (the standard's minimum).
const BORDER: i32 = 4;

/// `text` as a QR code in SVG: dark modules on a light square whatever the page's colours
/// (a phone's camera needs the contrast the standard assumes), one path of unit squares.
/// `None` only for text too long for a QR code (a device link is about 90 bytes).
pub fn qr_svg(text: &str) -> Option<String> {
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium).ok()?;
    let size = qr.size();
    let mut path = String::new();
    for y in 0..size {
        for x in 0..size {
            if qr.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + BORDER, y + BORDER));
            }
        }
    }
    let side = size + 2 * BORDER;
    Some(format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {side} {side}" shape-rendering="crispEdges" role="img" aria-label="QR code of the link"><rect width="{side}" height="{side}" fill="#fff"/><path d="{path}" fill="#000"/></svg>"##
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn a_link_carries_the_key_in_its_fragment_only() {
        let key = MemberKey::parse(KEY).unwrap();
        let l = link("https://confab.example", &key);
        assert_eq!(l, format!("https://confab.example/#me={KEY}"));
        let hash = &l[l.find('#').unwrap()..];
        assert_eq!(key_from_hash(hash), Some(key));
        assert_eq!(key_from_hash("#m42"), None, "a message anchor is not a key");
        assert_eq!(key_from_hash("#me=not-a-key"), None);
        assert_eq!(key_from_hash(""), None);
    }

    #[test]
    fn the_code_draws_exactly_the_modules_of_the_link() {
        let text = link("https://confab.example", &MemberKey::parse(KEY).unwrap());
        let svg = qr_svg(&text).unwrap();
        let qr = QrCode::encode_text(&text, QrCodeEcc::Medium).unwrap();
        let side = qr.size() + 2 * BORDER;
        assert!(svg.contains(&format!(r#"viewBox="0 0 {side} {side}""#)), "{svg}");
        // Every square drawn is a dark module, and every dark module is drawn.
        let d = svg.split(r#"d=""#).nth(1).unwrap().split('"').next().unwrap();
        let drawn: std::collections::BTreeSet<(i32, i32)> = d
            .split('M')
            .filter(|s| !s.is_empty())
            .map(|s| {
                let xy = s.strip_suffix("h1v1h-1z").unwrap();
                let (x, y) = xy.split_once(',').unwrap();
                (x.parse::<i32>().unwrap() - BORDER, y.parse::<i32>().unwrap() - BORDER)
            })
            .collect();
        let dark: std::collections::BTreeSet<(i32, i32)> = (0..qr.size())
            .flat_map(|y| (0..qr.size()).map(move |x| (x, y)))
            .filter(|&(x, y)| qr.get_module(x, y))
            .collect();
        assert_eq!(drawn, dark);
        // The finder pattern's corner is dark, the quiet zone is not drawn.
        assert!(drawn.contains(&(0, 0)) && drawn.iter().all(|&(x, y)| x >= 0 && y >= 0));
        assert_eq!(qr_svg(&"x".repeat(5_000)), None);
    }
}
