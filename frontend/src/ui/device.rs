//! "Use on another device" (issue 11): the link that makes another browser this person, as
//! text to copy and as a QR code for a phone's camera, behind a button and a warning. The
//! link and the code are `device.rs`'s.

use crate::browser;
use crate::device::{link, qr_svg};
use confab_shared::MemberKey;
use leptos::prelude::*;

/// Asked when a device link was opened: become the person it carries, or keep this browser's
/// own identity. Yes reloads the page, so every part of it starts over with the new key.
#[component]
pub fn AdoptIdentity(key: MemberKey, done: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let has_own = browser::stored_key().is_some();
    let adopt = move |_| {
        browser::adopt_key(&key);
        browser::reload();
    };
    view! {
        <main class="home adopt" data-testid="adopt-identity">
            <h1>"Use Confab as the person from this link?"</h1>
            <p class="warning" role="note">
                "This link carries someone's identity: this browser would be them in every room, with their rooms, names and direct messages. "
                <strong>"Say yes only if you made this link yourself, on your own device."</strong>
            </p>
            {has_own
                .then(|| {
                    view! {
                        <p class="muted">
                            "The identity this browser has now is kept aside, not deleted."
                        </p>
                    }
                })}
            <div class="actions">
                <button data-testid="adopt-yes" on:click=adopt>
                    "Yes, this is me"
                </button>
                <button class="secondary" data-testid="adopt-no" on:click=move |_| done()>
                    "No, keep this browser as it is"
                </button>
            </div>
        </main>
    }
}

/// The button, and the link with its code and warning once asked for.
#[component]
pub fn DeviceLink() -> impl IntoView {
    let open = RwSignal::new(false);
    let copied = RwSignal::new(false);
    // Made only when asked for: the key is not put in the page for nothing.
    let shown = move || {
        open.get().then(|| {
            let key = MemberKey::parse(&browser::member_key()).expect("member_key() returns a valid key");
            let url = link(&browser::origin(), &key);
            let svg = qr_svg(&url).unwrap_or_default();
            let copy_url = url.clone();
            view! {
                <div class="device-link" data-testid="device-link">
                    <p class="warning" role="note">
                        <strong>"Whoever opens this link can become you"</strong>
                        ", in every room, with your rooms, names and direct messages. Open it only on your own devices; never share it."
                    </p>
                    // Our own SVG: rectangles drawn from the link's modules, no outside text.
                    <div class="qr" inner_html=svg data-testid="device-qr"></div>
                    <input class="share" readonly aria-label="Link to use Confab as you on another device" value=url data-testid="device-url" />
                    <button
                        class="secondary"
                        on:click=move |_| {
                            browser::copy(&copy_url);
                            copied.set(true);
                        }
                    >
                        {move || if copied.get() { "Copied" } else { "Copy the link" }}
                    </button>
                </div>
            }
        })
    };
    view! {
        <div class="device">
            <button
                class="link"
                aria-expanded=move || open.get().to_string()
                data-testid="open-device-link"
                on:click=move |_| {
                    copied.set(false);
                    open.update(|o| *o = !*o);
                }
            >
                {move || if open.get() { "Hide the link" } else { "Use on another device…" }}
            </button>
            {shown}
        </div>
    }
}
