//! The `krl` command: `krl check FILE...`, `krl parse --json FILE`,
//! `krl serve` (the engine), and the people's commands that talk to a
//! running engine over HTTP (`krl ruleset register|list`, `krl pico
//! new|list|show|delete`, `krl install`, `krl uninstall`, `krl event`,
//! `krl query`, `krl mqtt`, `krl logs`). Uses: clap, tracing, reqwest,
//! and the `krl` library (`serve`, `client`, `commands`).

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use krl::client::{parse_pairs, seg, Client};
use krl::commands::explain;
use krl::serve::{serve, ServeConfig};
use krl_lang::engine::check as check_ruleset;
use krl_lang::engine::Limits;
use krl_lang::syntax::{parse_ruleset, Diagnostic};
use reqwest::Method;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// mimalloc instead of glibc's malloc: the event path allocates and frees
/// many small blocks on several threads (docs/performance.md).
#[global_allocator]
static ALLOC: Alloc = Alloc;

/// mimalloc, reached through `mi_malloc` for the alignments every mimalloc
/// block has (8 bytes): the `mimalloc` crate calls `mi_malloc_aligned` for
/// every allocation, whose path is longer (callgrind: about a tenth of an
/// event's instructions were in it). Other alignments go as the crate
/// sends them.
struct Alloc;

/// The alignment every block `mi_malloc` returns has (a pointer's).
const PLAIN_ALIGN: usize = std::mem::size_of::<usize>();

// SAFETY: each call passes the layout's size (and, unless the alignment
// is at most what every mimalloc block has, its alignment) to the
// matching mimalloc function; blocks are freed by `mi_free` whichever
// function made them, as mimalloc documents.
unsafe impl std::alloc::GlobalAlloc for Alloc {
    #[inline]
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        if layout.align() <= PLAIN_ALIGN {
            libmimalloc_sys::mi_malloc(layout.size()) as *mut u8
        } else {
            libmimalloc_sys::mi_malloc_aligned(layout.size(), layout.align()) as *mut u8
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        if layout.align() <= PLAIN_ALIGN {
            libmimalloc_sys::mi_zalloc(layout.size()) as *mut u8
        } else {
            libmimalloc_sys::mi_zalloc_aligned(layout.size(), layout.align()) as *mut u8
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: std::alloc::Layout) {
        libmimalloc_sys::mi_free(ptr as *mut std::ffi::c_void);
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        let ptr = ptr as *mut std::ffi::c_void;
        if layout.align() <= PLAIN_ALIGN {
            libmimalloc_sys::mi_realloc(ptr, new_size) as *mut u8
        } else {
            libmimalloc_sys::mi_realloc_aligned(ptr, new_size, layout.align()) as *mut u8
        }
    }
}

#[derive(Parser)]
#[command(name = "krl", version, about = "KRL rules engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and check rulesets; prints OK or the errors, exits 1 on any error.
    Check {
        /// KRL files (a directory means every *.krl file in it).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Also print warnings (classic constructs and the like).
        #[arg(long)]
        warnings: bool,
    },
    /// Parse one ruleset and print its AST.
    Parse {
        /// Print the AST as JSON (the only format for now).
        #[arg(long)]
        json: bool,
        /// The KRL file.
        file: PathBuf,
    },
    /// Format KRL files in the canonical layout (docs/fmt.md).
    Fmt {
        /// Name the files that would change and exit 1; rewrite nothing.
        #[arg(long)]
        check: bool,
        /// KRL files, directories (every *.krl under them), or - (stdin).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// The language server over stdio, for editors (docs/editors.md).
    Lsp,
    /// Run the engine: HTTP API, picos, storage (docs/server.md).
    Serve(Box<ServeArgs>),
    /// Copy a single node's data folder into a cluster's PostgreSQL
    /// database (docs/cluster.md); the engine on DIR must be stopped.
    Migrate {
        /// The sled data folder (`krl serve --data`).
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        /// The cluster's store: postgres://user[:password]@host[:port]/database.
        #[arg(long, value_name = "URL")]
        to: String,
    },
    /// Registered rulesets of a running engine.
    Ruleset {
        #[command(subcommand)]
        command: RulesetCommand,
    },
    /// Picos of a running engine.
    Pico {
        #[command(subcommand)]
        command: PicoCommand,
    },
    /// MQTT subscriptions of a pico (docs/mqtt.md).
    Mqtt {
        #[command(subcommand)]
        command: MqttCommand,
    },
    /// Watch what the engine does (its live trace): events, directives,
    /// errors, sends, MQTT messages, as they happen.
    Logs {
        /// Follow the trace from now on (the engine keeps no history yet).
        #[arg(long, short = 'f')]
        follow: bool,
        /// Only this pico's entries.
        #[arg(long)]
        pico: Option<String>,
        /// Print the entries as JSON lines.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// Uninstall a ruleset from a pico (its variables there are dropped).
    Uninstall {
        /// The ruleset id.
        rid: String,
        /// The pico's id.
        #[arg(long)]
        pico: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Install a registered ruleset on a pico.
    Install {
        /// The ruleset id.
        rid: String,
        /// The pico's id.
        #[arg(long)]
        pico: String,
        /// Its configuration (`meta:rulesetConfig`), a JSON object.
        #[arg(long)]
        config: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Send an event; prints the answer (directives).
    Event {
        /// The channel.
        eci: String,
        /// Event domain.
        domain: String,
        /// Event type.
        #[arg(name = "TYPE")]
        kind: String,
        /// Attributes: name=value (a string) or name:=JSON.
        attrs: Vec<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Call a shared function; prints its value.
    Query {
        /// The channel.
        eci: String,
        /// The ruleset.
        rid: String,
        /// The function (add .txt or .html for text).
        function: String,
        /// Arguments: name=value (a string) or name:=JSON.
        args: Vec<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// A local phone: place a call to a channel as Twilio would, play the
    /// TwiML answers as a transcript and follow the call (docs/twilio.md).
    Call(CallArgs),
    /// A local phone: send an SMS webhook, print the `<Message>` replies.
    Sms {
        /// The channel (its `twilio sms` event), or the whole URL of any
        /// messaging webhook (http:// or https://).
        #[arg(value_name = "ECI|URL")]
        eci: String,
        /// The message text (or --body).
        #[arg(required_unless_present = "body_flag", conflicts_with = "body_flag")]
        body: Option<String>,
        /// The message text.
        #[arg(long = "body", id = "body_flag", value_name = "TEXT")]
        body_flag: Option<String>,
        #[command(flatten)]
        phone: PhoneArgs,
        /// Print the replies as JSON lines.
        #[arg(long)]
        json: bool,
    },
}

/// Where `krl call` and `krl sms` send, and as whom.
#[derive(clap::Args)]
struct PhoneArgs {
    /// The engine's base URL (where requests really go).
    #[arg(long, env = "KRL_URL", default_value = "http://127.0.0.1:3000")]
    url: String,
    /// The base Twilio would use (the engine's --public-url); signatures
    /// are over it [default: --url].
    #[arg(long)]
    public_url: Option<String>,
    /// Sign requests with this Twilio auth token (X-Twilio-Signature).
    #[arg(long, hide_env_values = true)]
    auth_token: Option<String>,
    /// The caller.
    #[arg(long, default_value = "+15550001")]
    from: String,
    /// The called (Twilio) number.
    #[arg(long, default_value = "+15559999")]
    to: String,
}

impl PhoneArgs {
    fn config(self) -> krl::phone::PhoneConfig {
        krl::phone::PhoneConfig {
            public_url: self.public_url.unwrap_or_else(|| self.url.clone()),
            url: self.url,
            auth_token: self.auth_token,
            from: self.from,
            to: self.to,
        }
    }
}

#[derive(clap::Args)]
struct CallArgs {
    /// The channel (its `twilio` event --type), or the whole URL of any
    /// voice webhook (http:// or https://; --type is then unused).
    #[arg(value_name = "ECI|URL")]
    eci: String,
    #[command(flatten)]
    phone: PhoneArgs,
    /// The event type of the first request.
    #[arg(long = "type", default_value = "inbound_call")]
    kind: String,
    /// Input of each Gather in turn, comma-separated: keys, `speech:WORDS`
    /// (for a Gather with input="speech"), or empty for no input
    /// [default: asked on stdin when it is a terminal].
    #[arg(long, conflicts_with = "script")]
    digits: Option<String>,
    /// A file with the input of each Gather, one line each.
    #[arg(long)]
    script: Option<PathBuf>,
    /// DialCallStatus posted to a Dial's action.
    #[arg(long, default_value = "completed",
          value_parser = ["completed", "answered", "busy", "no-answer", "failed", "canceled"])]
    dial_status: String,
    /// Most requests of one call (a guard against Redirect loops).
    #[arg(long, default_value_t = 100)]
    max_turns: usize,
    /// Print the transcript as JSON lines.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum RulesetCommand {
    /// Register (or register again) a ruleset from a KRL file.
    Register {
        /// The KRL file.
        file: PathBuf,
        #[command(flatten)]
        conn: Conn,
    },
    /// List the registered rulesets (rid, version; broken ones say why).
    List {
        /// Print the engine's JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Subcommand)]
enum PicoCommand {
    /// Make a pico; prints its id and first channel.
    New {
        /// Its parent (default: the root pico).
        #[arg(long)]
        parent: Option<String>,
        /// Its name.
        #[arg(long)]
        name: Option<String>,
        /// Install this registered ruleset on it (repeat for more, in
        /// order; all or nothing).
        #[arg(long, value_name = "RID")]
        install: Vec<String>,
        /// The configuration of the --install before it, a JSON object.
        #[arg(long, value_name = "JSON")]
        config: Vec<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// The pico tree: names, ids, ECIs, rulesets.
    List {
        /// Print the engine's JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// One pico: name, parent, children, rulesets, channels.
    Show {
        /// The pico's id.
        id: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Delete a pico with its children, channels and state.
    Delete {
        /// The pico's id.
        id: String,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Subcommand)]
enum MqttCommand {
    /// Subscribe a pico to a topic filter: each message is an event
    /// `mqtt:message` on the pico.
    Subscribe {
        /// The topic filter (`+` and `#` wildcards).
        filter: String,
        /// The pico's id.
        #[arg(long)]
        pico: String,
        /// 0 or 1.
        #[arg(long, default_value_t = 1)]
        qos: u8,
        #[command(flatten)]
        conn: Conn,
    },
    /// A pico's subscriptions.
    List {
        /// The pico's id.
        #[arg(long)]
        pico: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Drop one of a pico's subscriptions.
    Unsubscribe {
        /// The topic filter, as subscribed.
        filter: String,
        /// The pico's id.
        #[arg(long)]
        pico: String,
        #[command(flatten)]
        conn: Conn,
    },
}

/// Where the running engine is.
#[derive(clap::Args)]
struct Conn {
    /// The engine's base URL.
    #[arg(long, env = "KRL_URL", default_value = "http://127.0.0.1:3000")]
    url: String,
    /// The admin token (for the admin API).
    #[arg(long, env = "KRL_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Print only this field of the answer (e.g. `-o eci`,
    /// `-o directives.0.name`), for scripts.
    #[arg(short = 'o', long = "output", value_name = "FIELD")]
    output: Option<String>,
}

impl Conn {
    fn client(&self) -> Client {
        Client::new(&self.url, self.admin_token.clone())
    }
}

/// `krl serve`'s flags (the contract's table, docs/server.md).
#[derive(clap::Args)]
struct ServeArgs {
    /// HTTP listen address; port 0 picks a free one.
    #[arg(long, env = "KRL_LISTEN", default_value = "127.0.0.1:3000")]
    listen: String,
    /// sled database folder (created if missing).
    #[arg(long, env = "KRL_DATA", default_value = "./krl-data")]
    data: PathBuf,
    /// Base URL the outside world (Twilio) uses [default: http://<listen>].
    #[arg(long, env = "KRL_PUBLIC_URL")]
    public_url: Option<String>,
    /// Bearer token for /api/* [default: random, printed once at start].
    #[arg(long, env = "KRL_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Base of Twilio's REST API.
    #[arg(
        long,
        env = "KRL_TWILIO_API_URL",
        default_value = "https://api.twilio.com"
    )]
    twilio_api_url: String,
    /// The embedded MQTT broker's address; port 0 picks a free one.
    #[arg(long, env = "KRL_MQTT_LISTEN", default_value = "127.0.0.1:1883")]
    mqtt_listen: String,
    /// An external MQTT broker instead of the embedded one:
    /// mqtt://[user:password@]host[:port], or mqtts:// for TLS.
    #[arg(long, env = "KRL_MQTT_URL", hide_env_values = true)]
    mqtt_url: Option<String>,
    /// CA certificates (PEM) to trust for an mqtts:// broker, instead of
    /// the built-in Mozilla roots.
    #[arg(long, env = "KRL_MQTT_CA", value_name = "FILE")]
    mqtt_ca: Option<PathBuf>,
    /// No broker, no MQTT client.
    #[arg(long)]
    no_mqtt: bool,
    /// Files served under /static/ (audio for twilio:url_for).
    #[arg(long = "static", env = "KRL_STATIC")]
    static_dir: Option<PathBuf>,
    /// The Pico Engine's package folder: its system rulesets are installed
    /// on the root pico at start and its UI is served at / (docs/pico-engine.md).
    #[arg(long, env = "KRL_PICO_ENGINE", value_name = "DIR")]
    pico_engine: Option<PathBuf>,
    #[command(flatten)]
    twilio: krl::twilio::TwilioArgs,
    #[command(flatten)]
    durability: krl::durable::DurabilityArgs,
    #[command(flatten)]
    cluster: krl::cluster::ClusterArgs,
    /// Most expression steps one event (or query, or install) may take.
    #[arg(long, env = "KRL_MAX_OPS", default_value_t = Limits::default().max_ops,
          value_parser = clap::value_parser!(u64).range(1..))]
    max_ops: u64,
    /// Deepest nesting of function and action calls.
    #[arg(long, env = "KRL_MAX_DEPTH", default_value_t = Limits::default().max_depth,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_depth: u32,
    /// Most events one event may raise, counting raised events' raises.
    #[arg(long, env = "KRL_MAX_RAISED", default_value_t = Limits::default().max_raised)]
    max_raised: usize,
    /// Time limit of one `http:` request in seconds (decimals allowed):
    /// connecting, sending and reading the whole answer.
    #[arg(long, env = "KRL_HTTP_TIMEOUT", default_value = "10", value_parser = parse_seconds)]
    http_timeout: Duration,
    /// Start the engine's clock at this RFC 3339 instant (e.g.
    /// 2026-03-08T09:30:00-07:00); it advances in real time from there.
    /// A testing aid [default: the system clock].
    #[arg(long, env = "KRL_CLOCK", value_parser = parse_instant)]
    clock: Option<i64>,
    /// Seconds a pico may go without a message before its task leaves
    /// memory (it starts again from the store on the next one; its
    /// ctx:logs() go with it).
    #[arg(long, env = "KRL_PICO_IDLE_TIMEOUT", default_value = "30", value_parser = parse_seconds)]
    pico_idle_timeout: Duration,
    /// How many pico tasks may be in memory before idle ones leave after
    /// 1 second instead of --pico-idle-timeout (a soft bound: busy picos
    /// stay).
    #[arg(long, env = "KRL_MAX_LIVE_PICOS", default_value_t = krl::pico::DEFAULT_MAX_LIVE as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    max_live_picos: u64,
    /// The database's cache in MiB (pages kept in memory).
    #[arg(long, env = "KRL_CACHE_MB", default_value_t = krl::store::DEFAULT_CACHE_MB,
          value_parser = clap::value_parser!(u64).range(1..))]
    cache_mb: u64,
}

/// An RFC 3339 instant, as ms since the Unix epoch.
fn parse_instant(s: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            format!("{s:?} is not an RFC 3339 instant such as 2026-03-08T09:30:00-07:00 ({e})")
        })
}

/// A positive number of seconds.
fn parse_seconds(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(n) if n > 0.0 && n.is_finite() => Ok(Duration::from_secs_f64(n)),
        _ => Err(format!("{s:?} is not a positive number of seconds")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        // A command whose output goes to a closed pipe (`krl ... | head`)
        // ends quietly, as Unix tools do, instead of failing on EPIPE.
        // The server keeps Rust's default (SIGPIPE ignored).
        #[cfg(unix)]
        // SAFETY: called before any other thread exists; only resets a
        // signal's disposition to its default.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("krl: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Prints an answer from the engine: text as is, anything else as JSON;
/// with `-o FIELD` only that field.
fn print_answer(v: &serde_json::Value, output: Option<&str>) -> anyhow::Result<ExitCode> {
    if let Some(f) = output {
        println!("{}", krl::commands::field(v, f)?);
        return Ok(ExitCode::SUCCESS);
    }
    match v {
        serde_json::Value::String(s) => println!("{s}"),
        v => println!("{}", serde_json::to_string_pretty(v)?),
    }
    Ok(ExitCode::SUCCESS)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check { files, warnings } => check_files(&expand(files)?, warnings),
        Command::Fmt { check, files } => krl::fmt::run(&files, check),
        Command::Lsp => krl::lsp::run(),
        Command::Serve(a) => {
            init_logging();
            serve(ServeConfig {
                listen: a.listen,
                data: a.data,
                public_url: a.public_url,
                admin_token: a.admin_token,
                twilio_api_url: a.twilio_api_url,
                mqtt_listen: a.mqtt_listen,
                mqtt_url: a.mqtt_url,
                mqtt_ca: a.mqtt_ca,
                no_mqtt: a.no_mqtt,
                static_dir: a.static_dir,
                pico_engine: a.pico_engine,
                twilio: a.twilio.into(),
                limits: Limits {
                    max_ops: a.max_ops,
                    max_depth: a.max_depth,
                    max_raised: a.max_raised,
                },
                http_timeout: a.http_timeout,
                clock_start_ms: a.clock,
                durability: a.durability.durability,
                pico_idle_timeout: a.pico_idle_timeout,
                max_live_picos: usize::try_from(a.max_live_picos).unwrap_or(usize::MAX),
                cache_bytes: a.cache_mb << 20,
                cluster: a.cluster,
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ruleset { command } => ruleset_command(command),
        Command::Pico { command } => pico_command(command),
        Command::Mqtt { command } => mqtt_command(command),
        Command::Migrate { from, to } => {
            let n = krl::cluster::migrate(&from, &to)?;
            println!(
                "migrated {n} keys from {} to {}",
                from.display(),
                krl::store::pg::redact(&to)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Logs {
            follow,
            pico,
            json,
            conn,
        } => {
            if !follow {
                anyhow::bail!(
                    "the engine keeps no log history yet: give --follow to watch from now on"
                );
            }
            krl::commands::follow(&conn.client(), pico.as_deref(), json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Uninstall { rid, pico, conn } => {
            let c = conn.client();
            let path = format!("/picos/{}/rulesets/{}", seg(&pico), seg(&rid));
            c.admin_call(Method::DELETE, &path, None)
                .map_err(|e| explain(&c, e))?;
            println!("uninstalled {rid} from {pico}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Install {
            rid,
            pico,
            config,
            conn,
        } => {
            let config = config
                .map(|c| serde_json::from_str(&c).context("--config must be JSON"))
                .transpose()?;
            let c = conn.client();
            let v = c.install(&pico, &rid, config).map_err(|e| explain(&c, e))?;
            print_answer(&v, conn.output.as_deref())
        }
        Command::Event {
            eci,
            domain,
            kind,
            attrs,
            conn,
        } => {
            let c = conn.client();
            let v = c
                .event(&eci, &domain, &kind, parse_pairs(&attrs)?)
                .map_err(|e| explain(&c, e))?;
            print_answer(&v, conn.output.as_deref())
        }
        Command::Query {
            eci,
            rid,
            function,
            args,
            conn,
        } => {
            let c = conn.client();
            let v = c
                .query(&eci, &rid, &function, parse_pairs(&args)?)
                .map_err(|e| explain(&c, e))?;
            print_answer(&v, conn.output.as_deref())
        }
        Command::Call(a) => {
            let input = match (&a.digits, &a.script) {
                (Some(d), _) => krl::phone::Input::from_digits(d),
                (None, Some(f)) => krl::phone::Input::from_script(&read(f)?),
                (None, None) => krl::phone::Input::default_for_stdin(),
            };
            krl::phone::call(
                a.phone.config(),
                krl::phone::CallOptions {
                    eci: a.eci,
                    kind: a.kind,
                    dial_status: a.dial_status,
                    json: a.json,
                    max_turns: a.max_turns,
                },
                input,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sms {
            eci,
            body,
            body_flag,
            phone,
            json,
        } => {
            let body = body.or(body_flag).unwrap_or_default();
            krl::phone::sms(phone.config(), &eci, &body, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Parse { json: _, file } => {
            let src = read(&file)?;
            match parse_ruleset(&src) {
                Ok(ast) => {
                    let json = serde_json::to_string_pretty(&ast)?;
                    let mut out = std::io::stdout().lock();
                    match writeln!(out, "{json}") {
                        // `krl parse --json f | head` closes the pipe early: not an error
                        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                        _ => Ok(ExitCode::SUCCESS),
                    }
                }
                Err(d) => {
                    eprint!("{}", d.render(&file.display().to_string(), &src));
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

fn ruleset_command(command: RulesetCommand) -> anyhow::Result<ExitCode> {
    match command {
        RulesetCommand::Register { file, conn } => {
            let c = conn.client();
            let v = krl::commands::register(&c, &file).map_err(|e| explain(&c, e))?;
            print_answer(&v, conn.output.as_deref())
        }
        RulesetCommand::List { json, conn } => {
            let v = conn.client().admin_call(Method::GET, "/rulesets", None)?;
            if json || conn.output.is_some() {
                return print_answer(&v, conn.output.as_deref());
            }
            print!("{}", krl::commands::render_rulesets(&v));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn pico_command(command: PicoCommand) -> anyhow::Result<ExitCode> {
    match command {
        PicoCommand::New {
            parent,
            name,
            install,
            config,
            conn,
        } => {
            let c = conn.client();
            let v =
                krl::commands::pico_new(&c, parent.as_deref(), name.as_deref(), &install, &config)
                    .map_err(|e| explain(&c, e))?;
            print_answer(&v, conn.output.as_deref())
        }
        PicoCommand::List { json, conn } => {
            let v = krl::commands::pico_tree(&conn.client())?;
            if json || conn.output.is_some() {
                return print_answer(&v, conn.output.as_deref());
            }
            print!("{}", krl::commands::render_tree(&v));
            Ok(ExitCode::SUCCESS)
        }
        PicoCommand::Show { id, conn } => {
            let c = conn.client();
            let v = c
                .admin_call(Method::GET, &format!("/picos/{}", seg(&id)), None)
                .map_err(|e| explain(&c, e))?;
            print_answer(&v, conn.output.as_deref())
        }
        PicoCommand::Delete { id, conn } => {
            let c = conn.client();
            c.admin_call(Method::DELETE, &format!("/picos/{}", seg(&id)), None)
                .map_err(|e| explain(&c, e))?;
            println!("deleted {id}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn mqtt_command(command: MqttCommand) -> anyhow::Result<ExitCode> {
    let (pico, conn) = match &command {
        MqttCommand::Subscribe { pico, conn, .. }
        | MqttCommand::List { pico, conn }
        | MqttCommand::Unsubscribe { pico, conn, .. } => (pico, conn),
    };
    let c = conn.client();
    let path = format!("/picos/{}/mqtt", seg(pico));
    let v = match &command {
        MqttCommand::Subscribe { filter, qos, .. } => c.admin_call(
            Method::POST,
            &path,
            Some(&serde_json::json!({"filter": filter, "qos": qos})),
        ),
        MqttCommand::List { .. } => c.admin_call(Method::GET, &path, None),
        MqttCommand::Unsubscribe { filter, .. } => c.admin_call(
            Method::DELETE,
            &path,
            Some(&serde_json::json!({ "filter": filter })),
        ),
    }
    .map_err(|e| explain(&c, e))?;
    if v.is_null() {
        println!("unsubscribed");
        return Ok(ExitCode::SUCCESS);
    }
    print_answer(&v, conn.output.as_deref())
}

/// Logs go to stderr (stdout carries the start-up lines); the level
/// comes from `KRL_LOG` (e.g. `debug`, `krl=trace`), default `info`.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KRL_LOG")
        // The embedded broker (rumqttd) logs every connection at info, and
        // at error a connection that ends while it routes (the start-up
        // probe) or its own shutdown: off unless asked for (KRL_LOG). The
        // engine's MQTT client logs what matters to it (krl::mqtt).
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rumqttd=off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn read(file: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))
}

/// Directories become their `*.krl` files, sorted.
fn expand(paths: Vec<PathBuf>) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(&p)
                .with_context(|| format!("cannot list {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "krl"))
                .collect();
            found.sort();
            out.extend(found);
        } else {
            out.push(p);
        }
    }
    Ok(out)
}

fn check_files(files: &[PathBuf], warnings: bool) -> anyhow::Result<ExitCode> {
    let mut failed = 0;
    for file in files {
        let src = read(file)?;
        let name = file.display().to_string();
        let diags: Vec<Diagnostic> = match parse_ruleset(&src) {
            // the lints and the compile pass registration runs, so a file
            // `krl check` passes also registers
            Ok(ast) => check_ruleset(&ast),
            Err(d) => vec![d],
        };
        let errors = diags.iter().filter(|d| d.is_error()).count();
        for d in diags.iter().filter(|d| warnings || d.is_error()) {
            eprint!("{}", d.render(&name, &src));
        }
        if errors > 0 {
            failed += 1;
        } else {
            println!("{name}: OK");
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} file(s) failed", files.len());
        Ok(ExitCode::FAILURE)
    } else {
        if files.len() > 1 {
            println!("OK ({} files)", files.len());
        }
        Ok(ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::{GlobalAlloc, Layout};

    #[test]
    fn the_allocator_honours_every_alignment_and_keeps_contents_on_realloc() {
        for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
            for size in [1, 7, 8, 9, 16, 24, 100, 1000, 70_000] {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: a non-zero size; every block is freed once, with
                // the layout it was made (or last grown) with.
                unsafe {
                    let p = ALLOC.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size} align {align}");
                    for i in 0..size {
                        *p.add(i) = i as u8;
                    }
                    let q = ALLOC.realloc(p, layout, size * 3);
                    assert_eq!(q as usize % align, 0, "grown: size {size} align {align}");
                    for i in 0..size {
                        assert_eq!(*q.add(i), i as u8);
                    }
                    ALLOC.dealloc(q, Layout::from_size_align(size * 3, align).unwrap());
                    let z = ALLOC.alloc_zeroed(layout);
                    assert_eq!(z as usize % align, 0);
                    assert!((0..size).all(|i| *z.add(i) == 0));
                    ALLOC.dealloc(z, layout);
                }
            }
        }
    }
}
