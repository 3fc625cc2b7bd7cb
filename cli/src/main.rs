//! `confab tail ROOM` and `confab say ROOM TEXT…`. See `confab --help`.

use confab_cli::{create_bot, run, ws_url, Mode, DEFAULT_SERVER};
use confab_shared::{MemberKey, RoomName, UserName};
use std::io::Write;
use std::path::PathBuf;

const HELP: &str = "confab: Confab in a terminal

usage:
  confab tail ROOM            print the room as it happens (Ctrl-C ends)
  confab say ROOM TEXT...     post TEXT, wait until the room has stored it, exit
  confab bot ROOM NAME        make a bot (you must own or moderate ROOM); prints its token

options (or environment):
  --server URL   (CONFAB_SERVER)  default http://127.0.0.1:8787 (what `make dev` serves)
  --name NAME    (CONFAB_NAME)    default: your login name
  --key KEY      (CONFAB_KEY)     the secret that owns the name; default: made once and kept
                                  in ~/.config/confab/key (CONFAB_HOME overrides the folder)
  --invite CODE                   an invite link's code, to join an invite-only room

Both reconnect and resume after a dropped connection, as the page does; a post is sent
again until acknowledged and stored once.";

struct Args {
    command: String,
    room: String,
    text: Vec<String>,
    server: String,
    name: Option<String>,
    key: Option<String>,
    invite: Option<String>,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let mut args = Args {
        command: String::new(),
        room: String::new(),
        text: Vec::new(),
        server: env("CONFAB_SERVER").unwrap_or_else(|| DEFAULT_SERVER.to_owned()),
        name: env("CONFAB_NAME"),
        key: env("CONFAB_KEY"),
        invite: None,
    };
    let mut positional = Vec::new();
    while let Some(a) = argv.next() {
        match a.as_str() {
            "-h" | "--help" => return Err(HELP.to_owned()),
            "--server" => args.server = argv.next().ok_or("--server needs a URL")?,
            "--name" => args.name = Some(argv.next().ok_or("--name needs a name")?),
            "--key" => args.key = Some(argv.next().ok_or("--key needs a key")?),
            "--invite" => args.invite = Some(argv.next().ok_or("--invite needs a code")?),
            _ => positional.push(a),
        }
    }
    let mut positional = positional.into_iter();
    args.command = positional.next().ok_or(HELP)?;
    args.room = positional.next().ok_or("which room?")?;
    args.text = positional.collect();
    Ok(args)
}

/// The key kept for this user, made on first use (readable by its owner only).
fn stored_key() -> Result<String, String> {
    let dir = match std::env::var_os("CONFAB_HOME") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").ok_or("no HOME; pass --key")?).join(".config/confab"),
    };
    let path = dir.join("key");
    if let Ok(k) = std::fs::read_to_string(&path) {
        return Ok(k.trim().to_owned());
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let key = confab_cli::new_key();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(key.as_bytes()).map_err(|e| e.to_string())?;
    Ok(key)
}

fn main() {
    let code = match real_main() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            if e == HELP {
                0
            } else {
                1
            }
        }
    };
    std::process::exit(code);
}

fn real_main() -> Result<(), String> {
    let args = parse(std::env::args().skip(1))?;
    let room = RoomName::parse(&args.room).map_err(|e| e.message)?;
    let url = ws_url(&args.server, &room)?;
    let login = std::env::var("USER").unwrap_or_else(|_| "terminal".into());
    let name = UserName::parse(args.name.as_deref().unwrap_or(&login)).map_err(|e| e.message)?;
    let key = MemberKey::parse(&match args.key {
        Some(k) => k,
        None => stored_key()?,
    })
    .map_err(|e| e.message)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    if args.command == "bot" {
        let bot = args.text.first().ok_or("the bot's name?")?;
        let token = rt.block_on(create_bot(&url, name, key, bot))?;
        println!("{token}");
        return Ok(());
    }
    let mode = match args.command.as_str() {
        "tail" => Mode::Tail,
        "say" if !args.text.is_empty() => Mode::Say(args.text.join(" ")),
        "say" => return Err("say what?".into()),
        other => return Err(format!("no command {other}\n\n{HELP}")),
    };
    rt.block_on(async {
        let session = run(&url, name, key, args.invite, mode, |text| {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        });
        tokio::select! {
            r = session => r,
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}
