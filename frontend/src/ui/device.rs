//! "Use on another device" (issue 11): the link that makes another browser this person, as
//! text to copy and as a QR code for a phone's camera, behind a button and a warning. The
//! link and the code are `device.rs`'s.

use crate::browser;
use crate::device::{link, qr_svg};
use confab_shared::MemberKey;
use leptos::prelude::*;

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
                        <strong>"Whoever opens this link is you"</strong>
                        ", in every room, until you stop using this browser. Open it only on your own devices; never share it."
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
