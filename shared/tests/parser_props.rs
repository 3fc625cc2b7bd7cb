//! Property tests over the frame parser: no input panics it, every refusal has a code, and
//! every valid frame survives a round trip through the wire format unchanged. And over the
//! name rules, checked against regex-syntax's copy of the Unicode tables rather than ours:
//! no parsed name holds anything invisible, and nothing invisible makes a new claim.

use confab_shared::{ClientFrame, ClientId, Emoji, ErrorCode, MemberKey, MessageText, ServerFrame, UserName};
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
    let id = 0u64..(1 << 53);
    let emoji =
        prop_oneof![Just("👍"), Just("❤️"), Just("🎉"), Just("lgtm")].prop_map(|e| Emoji::parse(e).expect("valid"));
    let epoch = prop::option::of("[a-f0-9]{1,64}");
    prop_oneof![
        (name, key, prop::option::of(id.clone()), epoch).prop_map(|(name, key, since, epoch)| ClientFrame::Join {
            invite: None,
            batch: false,
            v: 2,
            name,
            key,
            since,
            epoch
        }),
        (cid.clone(), text.clone(), prop::option::of(id.clone()))
            .prop_map(|(client_id, text, reply_to)| ClientFrame::Send { client_id, text, reply_to, streaming: false }),
        (cid.clone(), id.clone(), text).prop_map(|(client_id, id, text)| ClientFrame::Edit { client_id, id, text }),
        (cid.clone(), id.clone()).prop_map(|(client_id, id)| ClientFrame::Delete { client_id, id }),
        (cid, id, emoji, any::<bool>()).prop_map(|(client_id, id, emoji, on)| ClientFrame::React {
            client_id,
            id,
            emoji,
            on
        }),
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
    fn names_that_parse_hold_no_invisible_or_control_characters(s in prop_oneof![any::<String>(), name_like()]) {
        if let Ok(n) = UserName::parse(&s) {
            let oracle = oracle();
            let n = n.as_str();
            prop_assert!(n == n.trim());
            prop_assert!(!n.contains("  "), "white space is collapsed: {n:?}");
            prop_assert!(n.chars().all(|c| c == ' ' || !c.is_whitespace()), "{n:?}");
            prop_assert!((1..=32).contains(&n.chars().count()));
            let mut prev = None;
            for c in n.chars() {
                prop_assert!(!oracle.control.has(c), "control or format character U+{:04X} in {n:?}", c as u32);
                // The one default-ignorable a name may hold: U+FE0F right after an emoji.
                let emoji_selector = c == '\u{FE0F}' && prev.is_some_and(|p| oracle.emoji.has(p));
                prop_assert!(emoji_selector || !oracle.ignorable.has(c), "invisible U+{:04X} in {n:?}", c as u32);
                prev = Some(c);
            }
        }
    }

    #[test]
    fn a_parsed_name_reads_back_as_the_same_claim(s in name_like()) {
        if let Ok(n) = UserName::parse(&s) {
            let again = UserName::parse(n.as_str()).expect("a display name parses");
            prop_assert_eq!(again.as_str(), n.as_str());
            prop_assert_eq!(again.canonical(), n.canonical());
            prop_assert_eq!(again.claim_key(), n.claim_key());
            prop_assert!(!n.claim_key().chars().any(|c| oracle().ignorable.has(c)));
            // The canonical form, read as a name, is the same name and the same claim.
            if let Ok(c) = UserName::parse(&n.canonical()) {
                prop_assert_eq!(c.canonical(), n.canonical());
                prop_assert_eq!(c.claim_key(), n.claim_key());
            }
        }
    }

    #[test]
    fn inserting_a_default_ignorable_is_refused_or_changes_no_claim(
        s in name_like(),
        at in any::<prop::sample::Index>(),
        // From regex-syntax's table, and U+FE0F often: the one a name may hold.
        ignorable in prop_oneof![Just("\u{FE0F}".to_owned()), "\\p{Default_Ignorable_Code_Point}"],
    ) {
        if let Ok(n) = UserName::parse(&s) {
            let chars: Vec<char> = n.as_str().chars().collect();
            let at = at.index(chars.len() + 1);
            let with: String = chars[..at].iter().copied().chain(ignorable.chars()).chain(chars[at..].iter().copied()).collect();
            if let Ok(m) = UserName::parse(&with) {
                prop_assert_eq!(m.canonical(), n.canonical(), "{:?}", with);
                prop_assert_eq!(m.claim_key(), n.claim_key(), "{:?}", with);
            }
        }
    }
}

/// Names built from what look-alike attacks use: letters in several scripts and widths,
/// combining marks, emoji with and without their selector, every kind of space, and now and
/// then an invisible character or any character at all (so about half of them parse).
fn name_like() -> impl Strategy<Value = String> {
    let tokens = |s: &str| s.split('|').map(str::to_owned).collect::<Vec<_>>();
    let looks = prop::sample::select(tokens(
        "a|A|b|B|e|E|l|L|i|I|0|1|m|rn| |  |\u{A0}|\u{2003}|\u{3000}|é|e\u{301}|ü|ß|ss|Σ|ς|σ|\u{308}|а|е|о|р|с|А|В|Е|Н|І|α|Ο|ａ|Ａ|１|ﬁ|❤|❤\u{FE0F}|☺\u{FE0F}|🙂|1\u{FE0F}\u{20E3}",
    ));
    let invisible = prop::sample::select(tokens(
        "\u{FE0F}|\u{FE0E}|\u{200B}|\u{200D}|\u{2060}|\u{E0100}|\u{AD}|\u{600}|\u{2800}|\u{2028}|\u{202E}|\u{7}",
    ));
    let token = prop_oneof![16 => looks, 1 => invisible, 2 => any::<char>().prop_map(String::from)];
    prop::collection::vec(token, 1..16).prop_map(|v| v.concat())
}

/// An independent copy of the Unicode properties the name rules use: regex-syntax's tables.
struct Oracle {
    ignorable: Class,
    control: Class,
    emoji: Class,
}

struct Class(Vec<(char, char)>);

impl Class {
    fn new(class: &str) -> Self {
        use regex_syntax::hir::{Class as C, HirKind};
        let hir = regex_syntax::parse(class).expect("a valid class");
        let HirKind::Class(C::Unicode(c)) = hir.kind() else { panic!("{class} is not a Unicode class") };
        Class(c.ranges().iter().map(|r| (r.start(), r.end())).collect())
    }
    fn has(&self, c: char) -> bool {
        self.0.iter().any(|&(lo, hi)| lo <= c && c <= hi)
    }
}

fn oracle() -> &'static Oracle {
    static ORACLE: std::sync::OnceLock<Oracle> = std::sync::OnceLock::new();
    ORACLE.get_or_init(|| Oracle {
        ignorable: Class::new(r"\p{Default_Ignorable_Code_Point}"),
        control: Class::new(r"[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]"),
        emoji: Class::new(r"\p{Emoji}"),
    })
}
