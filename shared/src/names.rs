//! What a display name may hold, and when two names are the same name.
//!
//! Three forms of one name, each used for one thing:
//! - **display** ([`UserName::as_str`]): what everyone sees. [`UserName::parse`] trims white
//!   space at both ends, turns every inner run of white space into one ASCII space (a page
//!   shows `a  b` and `a\u{A0}b` as `a b`, so the name says what is shown), and refuses every
//!   character that renders as nothing or rearranges the text around it (see
//!   [`is_default_ignorable`] and the rules below). Otherwise it is kept as typed.
//! - **canonical** ([`UserName::canonical`]): Unicode's compatibility caseless form (NFKC and
//!   full case folding, definition D145 of the Unicode Standard), white space collapsed as in
//!   the display. `José` (either normal form), `JOSÉ` and `ｊｏｓé` are one canonical name.
//!   It needs no confusables table, so the page can call it, but the NFKC and case-folding
//!   tables are not small (about 175 KB of wasm, 58 KB brotli-compressed, with the release
//!   profile): the page carries them only if it calls this. [`UserName::parse`] alone costs
//!   the page about 3 KB of wasm (1 KB compressed).
//! - **claim key** ([`UserName::claim_key`], cargo feature `claims`): the Unicode TS #39
//!   confusable skeleton of the canonical form, so `alice` and `аlice` (Cyrillic а), or `emma`
//!   and `ernrna`, are one claim. The room owns names by it. The confusables table it needs is
//!   large, so only the Worker builds it. Because case is folded first, capitals that look
//!   like other letters are not caught: `AIice` (capital i) vs `Alice`, Cyrillic `ВОВ` vs
//!   `BOB`, `B0B` vs `BOB` are different claims.
//!
//! # What a name may not hold
//! - control characters (Cc), including tab and line feed, and the line and paragraph
//!   separators U+2028/U+2029 (those that are white space are trimmed at the ends like any
//!   other, but refused inside a name);
//! - format characters (Cf), such as the bidi overrides or U+FFF9 (interlinear annotation);
//! - every `Default_Ignorable_Code_Point`: zero-width characters, variation selectors
//!   (U+FE00–FE0F, U+E0100–E01EF), tag characters, Hangul fillers, and the rest;
//! - U+2800 BRAILLE PATTERN BLANK, which is none of these but renders as a blank.
//!
//! One exception keeps emoji working: U+FE0F (the emoji variation selector) directly after a
//! character with the `Emoji` property, as in `❤️` (U+2764 U+FE0F) or the keycap `1️⃣`. It is kept
//! in the display and dropped from the canonical form, so `❤️ bob` and `❤ bob` are one name.
//! `alice\u{FE0F}`, U+FE0F after any other character, and U+FE0E (text style) are refused: the
//! selector would be invisible there. So are emoji that need U+200D (zero-width joiner) or tag
//! characters (`👩‍💻`, the flag of England), as before: allowing them would mean parsing emoji
//! sequences here.
//!
//! [`UserName::as_str`]: crate::UserName::as_str
//! [`UserName::parse`]: crate::UserName::parse
//! [`UserName::canonical`]: crate::UserName::canonical
//! [`UserName::claim_key`]: crate::UserName#method.claim_key

use caseless::Caseless;
use std::cmp::Ordering;
use unicode_normalization::UnicodeNormalization;

/// `Default_Ignorable_Code_Point` as listed in `DerivedCoreProperties.txt` of Unicode 18.0.0,
/// adjacent ranges merged. Kept here rather than taken from a crate because the page runs
/// this check and the table is 17 ranges; `tests/names_unicode.rs` compares it, code point by
/// code point, with the independent copy in `regex-syntax`.
const DEFAULT_IGNORABLE: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
];

/// The format characters (General_Category `Cf`, `UnicodeData.txt` of Unicode 18.0.0) that
/// are not default-ignorable: prepended Arabic and Syriac marks, interlinear annotation
/// controls, Kaithi number signs and Egyptian hieroglyph layout controls. The rest of `Cf`
/// is in [`DEFAULT_IGNORABLE`].
const FORMAT_NOT_IGNORABLE: &[(u32, u32)] = &[
    (0x0600, 0x0605),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
];

/// `Emoji=Yes`, from `emoji-data.txt` of Unicode 18.0.0 (as shipped in the `unicode-properties`
/// crate, which the tests compare it with), adjacent ranges merged: the characters U+FE0F may
/// follow. Embedded rather than taken from that crate at run time because the page runs this
/// check, and the crate's table of every emoji property costs the page about 7 KB more wasm.
/// A stale copy only refuses U+FE0F after an emoji newer than it, and new emoji are almost
/// all emoji-style by default, so they do not take it.
#[rustfmt::skip]
const EMOJI: &[(u32, u32)] = &[
    (0x0023, 0x0023), (0x002A, 0x002A), (0x0030, 0x0039), (0x00A9, 0x00A9), (0x00AE, 0x00AE), (0x203C, 0x203C),
    (0x2049, 0x2049), (0x2122, 0x2122), (0x2139, 0x2139), (0x2194, 0x2199), (0x21A9, 0x21AA), (0x231A, 0x231B),
    (0x2328, 0x2328), (0x23CF, 0x23CF), (0x23E9, 0x23F3), (0x23F8, 0x23FA), (0x24C2, 0x24C2), (0x25AA, 0x25AB),
    (0x25B6, 0x25B6), (0x25C0, 0x25C0), (0x25FB, 0x25FE), (0x2600, 0x2604), (0x260E, 0x260E), (0x2611, 0x2611),
    (0x2614, 0x2615), (0x2618, 0x2618), (0x261D, 0x261D), (0x2620, 0x2620), (0x2622, 0x2623), (0x2626, 0x2626),
    (0x262A, 0x262A), (0x262E, 0x262F), (0x2638, 0x263A), (0x2640, 0x2640), (0x2642, 0x2642), (0x2648, 0x2653),
    (0x265F, 0x2660), (0x2663, 0x2663), (0x2665, 0x2666), (0x2668, 0x2668), (0x267B, 0x267B), (0x267E, 0x267F),
    (0x2692, 0x2697), (0x2699, 0x2699), (0x269B, 0x269C), (0x26A0, 0x26A1), (0x26A7, 0x26A7), (0x26AA, 0x26AB),
    (0x26B0, 0x26B1), (0x26BD, 0x26BE), (0x26C4, 0x26C5), (0x26C8, 0x26C8), (0x26CE, 0x26CF), (0x26D1, 0x26D1),
    (0x26D3, 0x26D4), (0x26E9, 0x26EA), (0x26F0, 0x26F5), (0x26F7, 0x26FA), (0x26FD, 0x26FD), (0x2702, 0x2702),
    (0x2705, 0x2705), (0x2708, 0x270D), (0x270F, 0x270F), (0x2712, 0x2712), (0x2714, 0x2714), (0x2716, 0x2716),
    (0x271D, 0x271D), (0x2721, 0x2721), (0x2728, 0x2728), (0x2733, 0x2734), (0x2744, 0x2744), (0x2747, 0x2747),
    (0x274C, 0x274C), (0x274E, 0x274E), (0x2753, 0x2755), (0x2757, 0x2757), (0x2763, 0x2764), (0x2795, 0x2797),
    (0x27A1, 0x27A1), (0x27B0, 0x27B0), (0x27BF, 0x27BF), (0x2934, 0x2935), (0x2B05, 0x2B07), (0x2B1B, 0x2B1C),
    (0x2B50, 0x2B50), (0x2B55, 0x2B55), (0x3030, 0x3030), (0x303D, 0x303D), (0x3297, 0x3297), (0x3299, 0x3299),
    (0x1F004, 0x1F004), (0x1F0CF, 0x1F0CF), (0x1F170, 0x1F171), (0x1F17E, 0x1F17F), (0x1F18E, 0x1F18E), (0x1F191, 0x1F19A),
    (0x1F1E6, 0x1F1FF), (0x1F201, 0x1F202), (0x1F21A, 0x1F21A), (0x1F22F, 0x1F22F), (0x1F232, 0x1F23A), (0x1F250, 0x1F251),
    (0x1F300, 0x1F321), (0x1F324, 0x1F393), (0x1F396, 0x1F397), (0x1F399, 0x1F39B), (0x1F39E, 0x1F3F0), (0x1F3F3, 0x1F3F5),
    (0x1F3F7, 0x1F4FD), (0x1F4FF, 0x1F53D), (0x1F549, 0x1F54E), (0x1F550, 0x1F567), (0x1F56F, 0x1F570), (0x1F573, 0x1F57A),
    (0x1F587, 0x1F587), (0x1F58A, 0x1F58D), (0x1F590, 0x1F590), (0x1F595, 0x1F596), (0x1F5A4, 0x1F5A5), (0x1F5A8, 0x1F5A8),
    (0x1F5B1, 0x1F5B2), (0x1F5BC, 0x1F5BC), (0x1F5C2, 0x1F5C4), (0x1F5D1, 0x1F5D3), (0x1F5DC, 0x1F5DE), (0x1F5E1, 0x1F5E1),
    (0x1F5E3, 0x1F5E3), (0x1F5E8, 0x1F5E8), (0x1F5EF, 0x1F5EF), (0x1F5F3, 0x1F5F3), (0x1F5FA, 0x1F64F), (0x1F680, 0x1F6C5),
    (0x1F6CB, 0x1F6D2), (0x1F6D5, 0x1F6D9), (0x1F6DC, 0x1F6E5), (0x1F6E9, 0x1F6E9), (0x1F6EB, 0x1F6EC), (0x1F6F0, 0x1F6F0),
    (0x1F6F3, 0x1F6FC), (0x1F7E0, 0x1F7EB), (0x1F7F0, 0x1F7F0), (0x1F90C, 0x1F93A), (0x1F93C, 0x1F945), (0x1F947, 0x1F9FF),
    (0x1FA70, 0x1FA7C), (0x1FA80, 0x1FAC6), (0x1FAC8, 0x1FAC8), (0x1FACC, 0x1FADD), (0x1FADF, 0x1FAEB), (0x1FAEF, 0x1FAFA),
];

const VS16: char = '\u{FE0F}';
const BRAILLE_BLANK: char = '\u{2800}';

/// Whether `c` is in `table`, sorted ranges that do not overlap.
fn in_ranges(table: &[(u32, u32)], c: char) -> bool {
    let c = c as u32;
    table
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                Ordering::Less
            } else if lo > c {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        })
        .is_ok()
}

/// Whether `c` has the `Emoji` property (it can be shown as an emoji, by default or with
/// U+FE0F). Public for the tests, which compare it with the `unicode-properties` crate.
pub fn is_emoji(c: char) -> bool {
    in_ranges(EMOJI, c)
}

/// Whether `c` has Unicode's `Default_Ignorable_Code_Point` property: it renders as nothing
/// unless a font or the text around it gives it a meaning (zero-width spaces and joiners,
/// bidi controls, variation selectors, tag characters, Hangul fillers, …).
pub fn is_default_ignorable(c: char) -> bool {
    // Nothing below U+00AD is; this keeps the common case to one comparison.
    c >= '\u{AD}' && in_ranges(DEFAULT_IGNORABLE, c)
}

/// Whether `c`, directly after `prev`, makes a name invalid (see the module doc).
fn refused_in_name(prev: Option<char>, c: char) -> bool {
    if c == VS16 {
        return !prev.is_some_and(is_emoji);
    }
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | BRAILLE_BLANK)
        || is_default_ignorable(c)
        || in_ranges(FORMAT_NOT_IGNORABLE, c)
}

/// Whether a name (already trimmed) holds a character it may not.
pub(crate) fn has_refused_char(name: &str) -> bool {
    let mut prev = None;
    for c in name.chars() {
        if refused_in_name(prev, c) {
            return true;
        }
        prev = Some(c);
    }
    false
}

/// Whether `c` shows as nothing at all in a message: white space, default-ignorable, or the
/// blank braille pattern. A message made only of these is empty.
pub(crate) fn is_blank(c: char) -> bool {
    c.is_whitespace() || is_default_ignorable(c) || c == BRAILLE_BLANK
}

/// `s` trimmed, with each run of white space inside it replaced by one ASCII space.
pub(crate) fn collapse_white_space(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut gap = false;
    for c in s.trim().chars() {
        if c.is_whitespace() {
            gap = true;
        } else {
            if gap {
                out.push(' ');
                gap = false;
            }
            out.push(c);
        }
    }
    out
}

/// The canonical form of a display name: default-ignorables removed, then
/// `NFKC(toCasefold(NFKD(toCasefold(NFD(X)))))` (the Standard's compatibility caseless match,
/// D145, ending in NFKC rather than NFKD so that it stays short, and with std's lowercase
/// after the last fold, see below), then white space collapsed and trimmed, because NFKC
/// turns some characters (U+00A8 DIAERESIS, U+3000) into spaces.
pub(crate) fn canonical(name: &str) -> String {
    let folded: String = name
        .chars()
        .filter(|&c| !is_default_ignorable(c))
        .nfd()
        .default_case_fold()
        .nfkd()
        .default_case_fold()
        // caseless folds by Unicode 16.0; std's case tables are newer. A folded character is
        // already lowercase (Cherokee, folded to capitals, lowercases the same from either
        // case), so this only folds the case pairs added since, such as U+A7CE/U+A7CF.
        .flat_map(char::to_lowercase)
        .nfkc()
        .collect();
    collapse_white_space(&folded)
}

/// The claim key: the UTS #39 `skeleton` of [`canonical`] (NFD, default-ignorables removed,
/// each character replaced by its confusable prototype from `confusables.txt`, NFD again).
#[cfg(feature = "claims")]
pub(crate) fn claim_key(name: &str) -> String {
    unicode_security::skeleton(&canonical(name)).collect()
}
