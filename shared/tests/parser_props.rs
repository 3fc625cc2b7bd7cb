//! Property tests over the frame parser: no input panics it, every refusal has a code, and
//! every valid frame survives a round trip through the wire format unchanged.

use confab_shared::{ClientFrame, ClientId, ErrorCode, MemberKey, MessageText, ServerFrame, UserName};
use proptest::prelude::*;

/// JSON-ish text: fragments of real frames glued together with arbitrary characters, which
/// reaches far deeper into the parser than uniformly random strings.
fn jsonish() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        "\"",
        "\"type\"",
        "\"data\"",
        "\"join\"",
        "\"send\"",
        "\"typing\"",
        "\"history\"",
        "\"name\"",
        "\"key\"",
        "\"text\"",
        "\"client_id\"",
        "\"before\"",
        "\"limit\"",
        "\"since\"",
        "0",
        "-1",
        "1e999",
        "18446744073709551616",
        "null",
        "true",
        "\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\"",
        "\"\\u202e\"",
        "\"\\u0000\"",
        " ",
        "\n",
    ]);
    (prop::collection::vec(prop_oneof![atoms.prop_map(str::to_owned), any::<String>()], 0..40)).prop_map(|v| v.concat())
}

fn valid_client_frame() -> impl Strategy<Value = ClientFrame> {
    let name = "[a-zA-Z0-9 éü🙂]{1,32}".prop_filter_map("a valid name", |n| UserName::parse(&n).ok());
    let key = "[A-Za-z0-9_-]{32,128}".prop_map(|k| MemberKey::parse(&k).expect("matches the key alphabet"));
    let cid = "[A-Za-z0-9_-]{1,64}".prop_map(|c| ClientId::parse(&c).expect("matches the id alphabet"));
    let text = "[^\\p{Cc}]{1,200}".prop_filter_map("a valid text", |t| MessageText::parse(&t).ok());
    prop_oneof![
        (name, key, prop::option::of(0u64..(1 << 53))).prop_map(|(name, key, since)| ClientFrame::Join {
            name,
            key,
            since
        }),
        (cid, text).prop_map(|(client_id, text)| ClientFrame::Send { client_id, text }),
        Just(ClientFrame::Typing {}),
        (0u64..(1 << 53), 1u32..=100).prop_map(|(before, limit)| ClientFrame::History { before, limit }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics_and_refusals_have_codes(s in any::<String>()) {
        if let Err(e) = ClientFrame::parse(&s) {
            prop_assert!(!e.message.is_empty());
            prop_assert!(e.message.len() <= 250, "error messages stay short: {}", e.message.len());
        }
        let _ = ServerFrame::parse(&s);
    }

    #[test]
    fn jsonish_text_never_panics(s in jsonish()) {
        match ClientFrame::parse(&s) {
            Ok(f) => prop_assert_eq!(ClientFrame::parse(&f.to_json()).ok(), Some(f)),
            Err(e) => prop_assert!(e.code != ErrorCode::Internal),
        }
    }

    #[test]
    fn valid_frames_round_trip(f in valid_client_frame()) {
        let wire = f.to_json();
        prop_assert!(wire.len() <= confab_shared::limits::FRAME_MAX_BYTES);
        prop_assert_eq!(ClientFrame::parse(&wire).expect("a valid frame parses"), f);
    }

    #[test]
    fn names_that_parse_hold_no_invisible_or_control_characters(s in any::<String>()) {
        if let Ok(n) = UserName::parse(&s) {
            let n = n.as_str();
            prop_assert!(n == n.trim());
            prop_assert!((1..=32).contains(&n.chars().count()));
            prop_assert!(!n.chars().any(|c| c.is_control() || confab_shared::values::is_invisible(c)));
        }
    }
}
