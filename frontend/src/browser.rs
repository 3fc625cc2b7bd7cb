//! Thin wrappers over the browser APIs the app uses. Failures here (no storage in a private
//! window, say) degrade to "nothing remembered", never to a panic.

use serde::{de::DeserializeOwned, Serialize};

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// Reads a JSON value from local storage.
pub fn load<T: DeserializeOwned>(key: &str) -> Option<T> {
    let text = storage()?.get_item(key).ok()??;
    serde_json::from_str(&text).ok()
}

/// Reads the raw text saved under `key`.
pub fn load_text(key: &str) -> Option<String> {
    storage()?.get_item(key).ok()?
}

/// Writes a JSON value to local storage (best effort).
pub fn save<T: Serialize>(key: &str, value: &T) {
    if let (Some(s), Ok(text)) = (storage(), serde_json::to_string(value)) {
        let _ = s.set_item(key, &text);
    }
}

/// Removes a key from local storage (best effort).
pub fn remove(key: &str) {
    if let Some(s) = storage() {
        let _ = s.remove_item(key);
    }
}

/// Every key in local storage.
pub fn keys() -> Vec<String> {
    let Some(s) = storage() else { return Vec::new() };
    let n = s.length().unwrap_or(0);
    (0..n).filter_map(|i| s.key(i).ok().flatten()).collect()
}

/// Whether the main pointer is coarse (a finger): Enter then adds a line and the button sends.
pub fn coarse_pointer() -> bool {
    web_sys::window().and_then(|w| w.match_media("(pointer: coarse)").ok().flatten()).is_some_and(|m| m.matches())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// `bytes` random bytes as lowercase hex, from the browser's CSPRNG.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // getrandom's "js" backend is crypto.getRandomValues; it fails only without Web Crypto,
    // where Math.random is the best there is (the key then still differs per browser).
    if getrandom::getrandom(&mut buf).is_err() {
        for b in &mut buf {
            *b = (js_sys::Math::random() * 256.0) as u8;
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// This browser's secret for name claims: made once, kept in local storage.
pub fn member_key() -> String {
    if let Some(k) = load::<String>("confab.key") {
        if confab_shared::MemberKey::parse(&k).is_ok() {
            return k;
        }
    }
    let k = random_hex(32);
    save("confab.key", &k);
    k
}

/// Makes `key` this browser's (a device link was opened, and the person said yes): the keys
/// it had are kept aside under `confab.key.previous` (the newest 5), never overwritten.
pub fn adopt_key(key: &confab_shared::MemberKey) {
    let old = load::<String>("confab.key");
    if old.as_deref() == Some(key.as_str()) {
        return;
    }
    if let Some(old) = old {
        let mut previous: Vec<String> = load("confab.key.previous").unwrap_or_default();
        previous.retain(|k| k != &old);
        previous.insert(0, old);
        previous.truncate(5);
        save("confab.key.previous", &previous);
    }
    save("confab.key", &key.as_str());
}

/// This browser's key as stored, if it has one yet.
pub fn stored_key() -> Option<String> {
    load::<String>("confab.key")
}

/// The current path, e.g. `/r/lobby`.
pub fn path() -> String {
    web_sys::window().and_then(|w| w.location().pathname().ok()).unwrap_or_else(|| "/".into())
}

/// The address's query, e.g. `?invite=k9` (empty if none).
pub fn search() -> String {
    web_sys::window().and_then(|w| w.location().search().ok()).unwrap_or_default()
}

/// Changes the address bar without reloading.
pub fn push_path(path: &str) {
    if let Some(h) = web_sys::window().and_then(|w| w.history().ok()) {
        let _ = h.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(path));
    }
}

/// The page's origin, e.g. `http://127.0.0.1:8787`.
pub fn origin() -> String {
    web_sys::window().and_then(|w| w.location().origin().ok()).unwrap_or_default()
}

/// The room's WebSocket URL. `trunk serve` builds set `CONFAB_WS_ORIGIN` (trunk's proxy
/// cannot carry the socket, see Trunk.toml); otherwise the socket is on the page's origin.
pub fn socket_url(room: &str) -> String {
    let base = match option_env!("CONFAB_WS_ORIGIN") {
        Some(o) if !o.is_empty() => o.to_owned(),
        _ => origin().replacen("http", "ws", 1),
    };
    format!("{base}/api/rooms/{room}/ws")
}

/// The person's inbox socket URL (issue 11), by the inbox's name (see `confab_shared::inbox`).
pub fn inbox_url(inbox: &str) -> String {
    let base = match option_env!("CONFAB_WS_ORIGIN") {
        Some(o) if !o.is_empty() => o.to_owned(),
        _ => origin().replacen("http", "ws", 1),
    };
    format!("{base}/api/me/{inbox}/ws")
}

/// Goes to `url` (a path, maybe with a query and fragment) in this page: the shell follows
/// the address as it does for Back and Forward, and the room jumps to a `#m{id}` fragment.
pub fn navigate(url: &str) {
    let Some(w) = web_sys::window() else { return };
    let before = hash();
    push_path(url);
    if let Ok(e) = web_sys::Event::new("popstate") {
        let _ = w.dispatch_event(&e);
    }
    if hash() != before {
        if let Ok(e) = web_sys::Event::new("hashchange") {
            let _ = w.dispatch_event(&e);
        }
    }
}

/// Whether the person allowed desktop notifications (false where the API is missing).
pub fn notifications_allowed() -> bool {
    notifications_supported() && web_sys::Notification::permission() == web_sys::NotificationPermission::Granted
}

/// Whether this browser has the Notification API at all.
pub fn notifications_supported() -> bool {
    web_sys::window().is_some_and(|w| js_sys::Reflect::has(&w, &"Notification".into()).unwrap_or(false))
}

/// Asks for permission to notify (call it only from a click: browsers ignore or penalise a
/// request made on load); `done` gets whether it was granted.
pub fn ask_notifications(done: impl FnOnce(bool) + 'static) {
    if !notifications_supported() {
        return done(false);
    }
    let Ok(promise) = web_sys::Notification::request_permission() else { return done(false) };
    wasm_bindgen_futures::spawn_local(async move {
        let answer = wasm_bindgen_futures::JsFuture::from(promise).await;
        done(answer.ok().and_then(|a| a.as_string()).is_some_and(|a| a == "granted"));
    });
}

/// Shows a desktop notification (best effort); one per `tag` at a time: a newer one for the
/// same room replaces the older. `on_click` runs when the person clicks it.
pub fn notify(title: &str, body: &str, tag: &str, on_click: impl FnMut() + 'static) {
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    if !notifications_allowed() {
        return;
    }
    let options = web_sys::NotificationOptions::new();
    options.set_body(body);
    options.set_tag(tag);
    let Ok(n) = web_sys::Notification::new_with_options(title, &options) else { return };
    let click = Closure::<dyn FnMut()>::new(on_click);
    n.set_onclick(Some(click.as_ref().unchecked_ref()));
    // Lives as long as the notification may be clicked. A notification with the same tag
    // replaces the one before it on screen, so its handler goes too: one per room at most, not
    // one per notification for as long as a hidden tab stays open.
    thread_local! {
        static CLICKS: std::cell::RefCell<std::collections::HashMap<String, Closure<dyn FnMut()>>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }
    CLICKS.with(|c| c.borrow_mut().insert(tag.to_owned(), click));
}

/// Brings this tab's window forward (after a notification's click).
pub fn focus_window() {
    if let Some(w) = web_sys::window() {
        let _ = w.focus();
    }
}

/// Sets the tab's icon (a `<link rel="icon">` in the head, made on first use).
pub fn set_favicon(href: &str) {
    let Some(d) = web_sys::window().and_then(|w| w.document()) else { return };
    let link = match d.query_selector("link[rel=icon]").ok().flatten() {
        Some(l) => l,
        None => {
            let Ok(l) = d.create_element("link") else { return };
            let _ = l.set_attribute("rel", "icon");
            if let Some(head) = d.query_selector("head").ok().flatten() {
                let _ = head.append_child(&l);
            }
            l
        }
    };
    let _ = link.set_attribute("href", href);
}

/// Sets the tab title.
pub fn set_title(title: &str) {
    if let Some(d) = web_sys::window().and_then(|w| w.document()) {
        d.set_title(title);
    }
}

/// Whether the tab is hidden (another tab in front, window minimised).
pub fn hidden() -> bool {
    web_sys::window().and_then(|w| w.document()).is_some_and(|d| d.hidden())
}

/// Whether the person is away from the tab: hidden, or the window not focused.
pub fn away() -> bool {
    web_sys::window().and_then(|w| w.document()).is_none_or(|d| d.hidden() || !d.has_focus().unwrap_or(true))
}

/// The address's fragment, e.g. `#m42` (empty if none).
pub fn hash() -> String {
    web_sys::window().and_then(|w| w.location().hash().ok()).unwrap_or_default()
}

/// Moves focus to the element with this id, if there is one (it must be focusable).
pub fn focus_by_id(id: &str) {
    use wasm_bindgen::JsCast;
    let el = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id(id));
    if let Some(el) = el.and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
        let _ = el.focus();
    }
}

/// Moves focus to the first element matching `selector`, if there is one.
pub fn focus_first(selector: &str) {
    use wasm_bindgen::JsCast;
    let el = web_sys::window().and_then(|w| w.document()).and_then(|d| d.query_selector(selector).ok().flatten());
    if let Some(el) = el.and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
        let _ = el.focus();
    }
}

/// Reloads the page.
pub fn reload() {
    if let Some(w) = web_sys::window() {
        let _ = w.location().reload();
    }
}

/// Puts `text` on the clipboard (best effort: the promise's outcome is not awaited; the page
/// says the link is copied, and shows it in the address bar too).
pub fn copy(text: &str) {
    use wasm_bindgen::JsCast;
    let Some(nav) = web_sys::window().map(|w| w.navigator()) else { return };
    let Ok(clipboard) = js_sys::Reflect::get(&nav, &"clipboard".into()) else { return };
    let write =
        js_sys::Reflect::get(&clipboard, &"writeText".into()).ok().and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    if let Some(write) = write {
        let _ = write.call1(&clipboard, &text.into());
    }
}

/// Replaces the address bar's URL without a new history entry.
pub fn replace_url(url: &str) {
    if let Some(h) = web_sys::window().and_then(|w| w.history().ok()) {
        let _ = h.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(url));
    }
}
