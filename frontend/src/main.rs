//! Entry point trunk builds: mounts the app. Everything else lives in the library.

fn main() {
    #[cfg(target_arch = "wasm32")]
    confab_frontend::start();
}
